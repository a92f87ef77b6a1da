"""Predictions for ``evaluate``: per-image detections, and their COCO results form.

``ImageDetections`` holds one image's xyxy boxes (original-image pixels), scores and 0-based
class indices, and for the other tasks ``masks`` (N, H, W) bool, ``keypoints`` (N, K, 3) x, y,
score and ``xywhr`` (N, 5) rotated boxes (angle in radians), all in original-image pixels.
``coco_results`` turns them into COCO results rows: ``bbox`` xywh always, plus ``segmentation``
(compressed RLE), ``keypoints`` (flat x, y, v) or ``xywhr`` (edgekit's key) for the task scored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from edgekit._optional import require
from edgekit.errors import InputFileError

PathLike = Union[str, Path]
#: the prediction field each iou type needs besides boxes
TASK_FIELD = {"bbox": None, "segm": "masks", "keypoints": "keypoints", "obb": "xywhr"}
_RESULT_KEY = {"segm": "segmentation", "keypoints": "keypoints", "obb": "xywhr"}


def _optional(value: Any, n: int, name: str, dtype: Any, shape: tuple) -> Optional[np.ndarray]:
    """``value`` as an (n, *shape) array (a ``None`` in ``shape`` takes any size), or None."""
    if value is None:
        return None
    array = np.asarray(value, dtype=dtype)
    if array.size == 0 and n == 0:
        return array.reshape(0, *(s or 0 for s in shape))
    ok = array.ndim == 1 + len(shape) and all(s is None or s == a for s, a in zip(shape, array.shape[1:]))
    if not ok or len(array) != n:
        raise ValueError(f"{name} of shape {array.shape}; expected ({n}, {', '.join(map(str, shape))})")
    return array


@dataclass(frozen=True)
class ImageDetections:
    """The detections of one image. ``image``: COCO image id, or file name (full, base name or stem)."""

    image: Union[int, str]
    boxes: np.ndarray  # (N, 4) x0, y0, x1, y1 in original-image pixels
    scores: np.ndarray  # (N,)
    class_ids: np.ndarray  # (N,) 0-based class indices
    masks: Optional[np.ndarray] = None  # (N, H, W) bool, the original image's size
    keypoints: Optional[np.ndarray] = None  # (N, K, 3) x, y, score (or visibility)
    xywhr: Optional[np.ndarray] = None  # (N, 5) rotated boxes, angle in radians

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        classes = np.asarray(self.class_ids).reshape(-1)
        n = len(boxes)
        if not n == len(scores) == len(classes):
            raise ValueError(f"{n} boxes, {len(scores)} scores and {len(classes)} class ids differ")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "class_ids", classes.astype(np.int64))
        object.__setattr__(self, "masks", _optional(self.masks, n, "masks", bool, (None, None)))
        object.__setattr__(
            self, "keypoints", _optional(self.keypoints, n, "keypoints", np.float64, (None, 3))
        )
        object.__setattr__(self, "xywhr", _optional(self.xywhr, n, "xywhr", np.float64, (5,)))


Predictions = Union[PathLike, Sequence[Union[ImageDetections, Mapping[str, Any]]]]


class _ImageIndex:
    """Finds a ground-truth image id from an id, a file name, a base name or a stem."""

    def __init__(self, images: List[dict]) -> None:
        self.ids = {int(img["id"]) for img in images}
        self.names: Dict[str, int] = {}
        for img in images:
            name = str(img.get("file_name", ""))
            for key in (name, Path(name).name, Path(name).stem):
                self.names.setdefault(key, int(img["id"]))

    def __call__(self, image: Union[int, str]) -> int:
        if isinstance(image, (int, np.integer)) and int(image) in self.ids:
            return int(image)
        if isinstance(image, (str, Path)):
            for key in (str(image), Path(image).name, Path(image).stem):
                if key in self.names:
                    return self.names[key]
        raise InputFileError("predictions", f"image {image!r} is not in the ground truth")


def _as_detections(item: Union[ImageDetections, Mapping[str, Any]]) -> ImageDetections:
    if isinstance(item, ImageDetections):
        return item
    image = next((item[k] for k in ("image_id", "file_name", "image") if k in item), None)
    if image is None or not all(k in item for k in ("boxes", "scores", "class_ids")):
        raise InputFileError("predictions", "each entry needs image_id/file_name, boxes, scores, class_ids")
    extra = {k: item.get(k) for k in ("masks", "keypoints", "xywhr")}
    return ImageDetections(image, item["boxes"], item["scores"], item["class_ids"], **extra)


def category_order(gt: Mapping[str, Any]) -> List[int]:
    """COCO category ids in class-index order (sorted by id)."""
    return sorted(int(c["id"]) for c in gt["categories"])


def read_results(predictions: PathLike) -> List[Any]:
    """The rows of a COCO results json file."""
    try:
        rows = json.loads(Path(predictions).read_text())
    except (OSError, ValueError) as exc:
        raise InputFileError(predictions, f"not a readable COCO results json file ({exc})") from exc
    if not isinstance(rows, list):
        raise InputFileError("predictions", "a COCO results file holds a list of detections")
    return rows


def coco_results(
    predictions: Predictions,
    gt: Mapping[str, Any],
    class_to_category: Optional[Sequence[int]] = None,
    iou_type: str = "bbox",
) -> List[dict]:
    """Predictions as COCO results rows for ``iou_type`` ("bbox", "segm", "keypoints", "obb")."""
    if iou_type not in TASK_FIELD:
        raise ValueError(f"unknown iou_type {iou_type!r}; choose one of {', '.join(TASK_FIELD)}")
    if isinstance(predictions, (str, Path)):
        predictions = read_results(predictions)
    cat_ids = list(class_to_category) if class_to_category is not None else category_order(gt)
    known_cats = {int(c["id"]) for c in gt["categories"]}
    index = _ImageIndex(gt["images"])
    out: List[dict] = []
    for item in predictions:
        if isinstance(item, Mapping) and "bbox" in item and "category_id" in item:
            out.append(_result_row(item, index, known_cats, iou_type))
            continue
        det = _as_detections(item)
        image_id = index(det.image)
        field = TASK_FIELD[iou_type]
        if field is not None and getattr(det, field) is None:
            raise InputFileError("predictions", f"{iou_type} scoring needs {field} for image {det.image!r}")
        for i, ((x0, y0, x1, y1), score, cls) in enumerate(zip(det.boxes, det.scores, det.class_ids)):
            if not 0 <= cls < len(cat_ids):
                raise InputFileError("predictions", f"class index {cls} is outside 0..{len(cat_ids) - 1}")
            row = _result(image_id, cat_ids[cls], x0, y0, x1 - x0, y1 - y0, score)
            out.append(_with_task_value(row, det, i, iou_type))
    return out


def _result_row(item: Mapping[str, Any], index: _ImageIndex, known_cats: set, iou_type: str) -> dict:
    """One row of a COCO results list, checked (and its task value carried over)."""
    if int(item["category_id"]) not in known_cats:
        raise InputFileError("predictions", f"category id {item['category_id']} is not in the ground truth")
    x, y, w, h = (float(v) for v in item["bbox"])
    row = _result(index(item["image_id"]), int(item["category_id"]), x, y, w, h, item["score"])
    key = _RESULT_KEY.get(iou_type)
    if key is None:
        return row
    if key not in item:
        raise InputFileError("predictions", f"{iou_type} scoring needs '{key}' in every results row")
    row[key] = item[key]
    if iou_type == "segm":
        row["area"] = float(item["area"]) if "area" in item else _rle_area(item[key], row)
    elif iou_type == "keypoints":
        row["area"] = _keypoint_area(np.asarray(item[key], np.float64).reshape(-1, 3))
    return row


def _with_task_value(row: dict, det: ImageDetections, i: int, iou_type: str) -> dict:
    if iou_type == "segm":
        mask_utils = require("faster_coco_eval", reason="mask mAP").core.mask

        rle = mask_utils.encode(np.asfortranarray(det.masks[i].astype(np.uint8)))
        row["segmentation"] = {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}
        row["area"] = float(det.masks[i].sum())
    elif iou_type == "keypoints":
        row["keypoints"] = [float(v) for v in det.keypoints[i].reshape(-1)]
        row["area"] = _keypoint_area(det.keypoints[i])
    elif iou_type == "obb":
        row["xywhr"] = [float(v) for v in det.xywhr[i]]
    return row


def _keypoint_area(points: np.ndarray) -> float:
    """The area of the keypoints' extent: what COCO's ``loadRes`` gives a keypoint result."""
    if not len(points):
        return 0.0
    return float(np.ptp(points[:, 0]) * np.ptp(points[:, 1]))


def _rle_area(segmentation: Any, row: dict) -> float:
    mask_utils = require("faster_coco_eval", reason="mask mAP").core.mask

    if isinstance(segmentation, dict):
        h, w = segmentation["size"]
        rle = (
            mask_utils.frPyObjects(segmentation, h, w)
            if isinstance(segmentation["counts"], list)
            else segmentation
        )
        return float(mask_utils.area(rle))
    return row["area"]  # a polygon: its box area is enough for the area buckets


def _result(image_id: int, cat: int, x: float, y: float, w: float, h: float, score: Any) -> dict:
    w, h = max(float(w), 0.0), max(float(h), 0.0)
    bbox = [float(x), float(y), w, h]
    return {
        "image_id": image_id,
        "category_id": int(cat),
        "bbox": bbox,
        "score": float(score),
        "area": w * h,
        "iscrowd": 0,
    }
