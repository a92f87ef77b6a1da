"""``Detections``: the result type every backend and decoder returns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from edgekit.decoding.masks import CroppedMasks
from edgekit.errors import ImageError

Index = Union[int, slice, Sequence[int], np.ndarray]
#: the optional per-detection arrays of the other tasks
TASK_FIELDS = ("masks", "keypoints", "xywhr")


def _is_cropped(masks: Any, n: int) -> bool:
    """Masks kept at their boxes (``edgekit.decoding.masks.CroppedMasks``), one per detection."""
    if not isinstance(masks, CroppedMasks):
        return False
    if len(masks) != n:
        raise ValueError(f"Detections: {len(masks)} masks for {n} boxes")
    return True


def _task_array(
    name: str, value: Optional[np.ndarray], n: int, ndim: int, dtype: Any, last: Optional[int] = None
) -> Optional[np.ndarray]:
    """``value`` as ``dtype``, checked to hold one entry per detection (None stays None)."""
    if value is None:
        return None
    array = np.asarray(value, dtype=dtype)
    if array.ndim != ndim or len(array) != n or (last is not None and array.shape[-1] != last):
        want = f"({n}, ..., {last})" if last else f"{ndim} dimensions, {n} first"
        raise ValueError(f"Detections: {name} of shape {array.shape}; expected {want}")
    return array


class Detections:
    """Boxes of one image: ``xyxy`` (N, 4) float32 in original-image pixels, ``confidence`` (N,)
    float32, ``class_id`` (N,) int32, and the model's ``class_names`` to name them; for the other
    tasks also ``masks`` (N, H, W) bool (segment), ``keypoints`` (N, K, 3) float32 x, y and
    visibility in original-image pixels (pose), ``xywhr`` (N, 5) float32 rotated boxes, angle in
    radians (obb; ``xyxy`` is then the box around each).

    Validated on construction; indexing with an int, slice, index array or boolean mask returns
    a new ``Detections``. ``image``: the source image (a reference, not a copy; BGR) when
    ``Detector`` made them, used by ``plot()`` and ``save()``.
    """

    __slots__ = ("class_id", "class_names", "confidence", "image", "keypoints", "masks", "xywhr", "xyxy")

    def __init__(
        self,
        xyxy: np.ndarray,
        confidence: np.ndarray,
        class_id: np.ndarray,
        class_names: Sequence[str] = (),
        image: Optional[np.ndarray] = None,
        *,
        masks: Optional[np.ndarray] = None,
        keypoints: Optional[np.ndarray] = None,
        xywhr: Optional[np.ndarray] = None,
    ) -> None:
        self.image = image
        self.xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        self.confidence = np.asarray(confidence, dtype=np.float32).reshape(-1)
        self.class_id = np.asarray(class_id, dtype=np.int32).reshape(-1)
        self.class_names = tuple(class_names)
        n = len(self.xyxy)
        if len(self.confidence) != n or len(self.class_id) != n:
            raise ValueError(
                f"Detections: {n} boxes, {len(self.confidence)} scores, {len(self.class_id)} class ids"
            )
        self.masks = masks if _is_cropped(masks, n) else _task_array("masks", masks, n, 3, bool)
        self.keypoints = _task_array("keypoints", keypoints, n, 3, np.float32, last=3)
        self.xywhr = _task_array("xywhr", xywhr, n, 2, np.float32, last=5)
        if (
            self.class_names
            and n
            and (self.class_id.min() < 0 or self.class_id.max() >= len(self.class_names))
        ):
            raise ValueError(f"Detections: class_id outside 0..{len(self.class_names) - 1}")

    @classmethod
    def empty(cls, class_names: Sequence[str] = ()) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32), class_names)

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Index) -> Detections:
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        extra = {k: getattr(self, k) for k in TASK_FIELDS if getattr(self, k) is not None}
        return Detections(
            self.xyxy[index],
            self.confidence[index],
            self.class_id[index],
            self.class_names,
            self.image,
            **{k: v[index] for k, v in extra.items()},
        )

    def __iter__(self) -> Iterable[Tuple[np.ndarray, float, int]]:
        for i in range(len(self)):
            yield self.xyxy[i], float(self.confidence[i]), int(self.class_id[i])

    def __repr__(self) -> str:
        return f"Detections({len(self)} boxes)"

    @property
    def names(self) -> List[str]:
        """The class name of each detection."""
        if not self.class_names:
            return [str(c) for c in self.class_id]
        return [self.class_names[c] for c in self.class_id]

    def filter(
        self, min_confidence: Optional[float] = None, classes: Optional[Iterable[Union[int, str]]] = None
    ) -> Detections:
        """Keep detections above ``min_confidence`` and of the given class ids or names."""
        keep = np.ones(len(self), dtype=bool)
        if min_confidence is not None:
            keep &= self.confidence >= min_confidence
        if classes is not None:
            ids = [self.class_names.index(c) if isinstance(c, str) else int(c) for c in classes]
            keep &= np.isin(self.class_id, ids)
        return self[keep]

    def keep_image(self, image: np.ndarray, color: str = "BGR") -> None:
        """Remember the source ``image`` (a view, no copy; an RGB one is viewed as BGR)."""
        rgb = color.upper() == "RGB" and image.ndim == 3
        self.image = image[..., 2::-1] if rgb else image

    def plot(
        self,
        image: Optional[np.ndarray] = None,
        *,
        labels: bool = True,
        conf: bool = True,
        line_width: Optional[int] = None,
    ) -> np.ndarray:
        """An annotated BGR copy of ``image`` (default: the source image kept by ``Detector``).

        ``labels=False``: boxes only; ``conf=False``: class names without scores. Needs cv2.
        """
        from edgekit.decoding.annotate import draw

        return draw(self._source(image), self, labels=labels, conf=conf, line_width=line_width)

    def save(self, path: Union[str, Path], image: Optional[np.ndarray] = None, **style: Any) -> Path:
        """Write ``plot(image, **style)`` to ``path`` (format from its suffix, written atomically)."""
        from edgekit.decoding.annotate import write_image

        return write_image(path, self.plot(image, **style))

    def _source(self, image: Optional[np.ndarray]) -> np.ndarray:
        if image is not None:
            return image
        if self.image is None:
            raise ImageError("no source image to draw on: pass image= (Detector results keep theirs)")
        return self.image

    def to_dict(self, masks: str = "rle") -> List[Dict[str, Any]]:
        """JSON-ready: one dict per detection; masks as COCO RLE (``masks="rle"``) or as the
        outline's points (``"polygon"``, needs OpenCV)."""
        rows: List[Dict[str, Any]] = [
            {
                "box": [round(float(v), 2) for v in box],
                "confidence": round(conf, 4),
                "class_id": cls,
                "class": name,
            }
            for (box, conf, cls), name in zip(self, self.names)
        ]
        if self.keypoints is not None:
            for row, points in zip(rows, self.keypoints):
                row["keypoints"] = [[round(float(v), 2) for v in p] for p in points]
        if self.xywhr is not None:
            for row, box in zip(rows, self.xywhr):
                row["xywhr"] = [round(float(v), 4) for v in box]
        if self.masks is not None:
            for row, encoded in zip(rows, _encode_masks(self.masks, masks)):
                row["mask"] = encoded
        return rows

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def to_supervision(self) -> Any:
        """A ``supervision.Detections`` (only when that package happens to be installed)."""
        from edgekit._optional import require

        sv = require("supervision", "supervision", reason="only needed for to_supervision()")
        data: Dict[str, Any] = {"class_name": np.array(self.names)}
        if self.keypoints is not None:
            data["keypoints"] = self.keypoints.copy()
        if self.xywhr is not None:
            from edgekit.decoding.rotated import corners

            data["xyxyxyxy"] = corners(self.xywhr)  # supervision's oriented-box field
        return sv.Detections(
            xyxy=self.xyxy.copy(),
            mask=None if self.masks is None else np.array(self.masks, dtype=bool),
            confidence=self.confidence.copy(),
            class_id=self.class_id.astype(int),
            data=data,
        )


def _encode_masks(masks: np.ndarray, form: str) -> List[Any]:
    if form == "rle":
        from edgekit.decoding.encode import mask_to_rle

        return [mask_to_rle(m) for m in masks]
    if form == "polygon":
        from edgekit.decoding.masks import polygons

        return [[[round(float(v), 1) for v in p] for p in points] for points in polygons(masks)]
    raise ValueError(f"masks must be 'rle' or 'polygon', got {form!r}")
