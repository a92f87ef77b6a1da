"""Instance masks on the host: mask coefficients x prototypes, only where a kept detection is.

A segmentation model gives each candidate ``nm`` mask coefficients and the image ``nm``
prototypes at a quarter of the input resolution. A detection's mask is ``sigmoid(coeffs @
protos) > 0.5``, i.e. ``coeffs @ protos > 0``, inside its box. Only the detections kept after
NMS / top-k are computed, and each only over its box: every pixel of the box in the original
image samples the prototype logits bilinearly at the point it maps to through the letterbox
(``Geometry``), in one step (``cv2.warpAffine`` where OpenCV imports, a separable numpy
interpolation otherwise). The peer upsamples every prototype to the whole input, crops the
padding and resizes again to the original image; edgekit's one-step sampling differs from that
only along mask edges.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, List, Optional, Tuple

import numpy as np

from edgekit.decoding.images import try_cv2
from edgekit.decoding.preprocess import Geometry
from edgekit.errors import MissingDependencyError

#: what ``Detections.masks`` can hold: full-image masks, masks at prototype resolution (in input
#: coordinates, letterbox included), or polygons (one (K, 2) array of original-image points each)
MASK_FORMS: Tuple[str, ...] = ("image", "proto", "polygon")


def pixel_span(lo: float, hi: float, size: int) -> Tuple[int, int]:
    """The pixel indices ``i`` with ``lo <= i < hi``, clipped to ``[0, size)``, as ``(start, stop)``."""
    start = min(max(int(math.ceil(lo)), 0), size)
    return start, min(max(int(math.ceil(hi)), start), size)


def _interp_weights(src: np.ndarray, size: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps of sample points ``src`` over ``size`` source pixels (edges clamped)."""
    src = np.clip(src, 0.0, size - 1.0)
    left = np.minimum(np.floor(src).astype(np.int64), max(size - 2, 0))
    frac = (src - left).astype(np.float32)
    return left, np.minimum(left + 1, size - 1), frac


def _sample_numpy(logits: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """``logits`` (h, w) sampled bilinearly at columns ``xs`` and rows ``ys`` (separable)."""
    x0, x1, fx = _interp_weights(xs, logits.shape[1])
    y0, y1, fy = _interp_weights(ys, logits.shape[0])
    rows = logits[y0] * (1 - fy)[:, None] + logits[y1] * fy[:, None]
    return rows[:, x0] * (1 - fx) + rows[:, x1] * fx


class CroppedMasks:
    """Instance masks kept at their boxes: behaves as the (N, H, W) bool stack (``shape``,
    ``len``, iteration and ``int`` indexing give full-image masks; ``np.asarray`` the whole stack)
    without writing the pixels outside the boxes until asked. Index arrays and slices select masks."""

    __slots__ = ("crops", "frame", "offsets")
    dtype = np.dtype(bool)
    ndim = 3

    def __init__(self, frame: Tuple[int, int], offsets: np.ndarray, crops: List[np.ndarray]) -> None:
        if len(offsets) != len(crops):
            raise ValueError(f"CroppedMasks: {len(offsets)} offsets, {len(crops)} crops")
        self.frame, self.offsets, self.crops = (int(frame[0]), int(frame[1])), offsets, crops

    @property
    def shape(self) -> Tuple[int, int, int]:
        return (len(self.crops), *self.frame)

    def __len__(self) -> int:
        return len(self.crops)

    def mask(self, i: int) -> np.ndarray:
        """Mask ``i`` in the full image, (H, W) bool."""
        out = np.zeros(self.frame, bool)
        (r0, c0), crop = self.offsets[i], self.crops[i]
        out[r0 : r0 + crop.shape[0], c0 : c0 + crop.shape[1]] = crop
        return out

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, (int, np.integer)):
            return self.mask(int(index))
        picked = np.arange(len(self.crops))[index]
        return CroppedMasks(self.frame, self.offsets[picked], [self.crops[i] for i in picked])

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.mask(i) for i in range(len(self.crops)))

    def dense(self) -> np.ndarray:
        """The (N, H, W) bool stack."""
        out = np.zeros(self.shape, bool)
        for i, ((r0, c0), crop) in enumerate(zip(self.offsets, self.crops)):
            out[i, r0 : r0 + crop.shape[0], c0 : c0 + crop.shape[1]] = crop
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.dense()
        return out if dtype is None else out.astype(dtype)

    def areas(self) -> np.ndarray:
        """Each mask's pixel count."""
        return np.array([int(np.count_nonzero(c)) for c in self.crops], np.int64)


class MaskDecoder:
    """Masks of kept detections from the prototypes of one image.

    ``protos``: (nm, Hp, Wp) float32; ``input_hw``: the network input's (height, width).
    """

    def __init__(self, protos: np.ndarray, input_hw: Tuple[int, int]) -> None:
        self.protos = np.ascontiguousarray(protos, dtype=np.float32)
        nm, self.ph, self.pw = self.protos.shape
        self.flat = self.protos.reshape(nm, -1)
        self.scale_x = self.pw / float(input_hw[1])  # prototype pixels per input pixel
        self.scale_y = self.ph / float(input_hw[0])
        self.cv2 = try_cv2()

    def image_masks(self, coeffs: np.ndarray, xyxy: np.ndarray, geo: Geometry) -> np.ndarray:
        """(N, H, W) bool masks in the original image, each inside its box ``xyxy`` (original pixels)."""
        return self.crops(coeffs, xyxy, geo).dense()

    def _spans(
        self, lo: np.ndarray, hi: np.ndarray, size: int, gain: float, pad: float, scale: float, psize: int
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray, np.ndarray]:
        """Per box along one axis: its pixel span ``[p0, p1)`` in the original image, where its first
        pixel centre lands in the prototypes and the step per pixel, and the prototype span
        ``[q0, q1)`` that the bilinear taps read (all vectorized over the boxes)."""
        p0 = np.clip(np.ceil(lo), 0, size).astype(np.int64)
        p1 = np.maximum(np.clip(np.ceil(hi), 0, size).astype(np.int64), p0)
        step = gain * scale
        first = ((p0 + 0.5) * gain + pad) * scale - 0.5  # original pixel centre -> prototype coordinate
        last = first + (np.maximum(p1 - p0, 1) - 1) * step
        q0 = np.minimum(np.maximum(np.floor(first), 0), psize - 1).astype(np.int64)
        q1 = np.minimum(np.maximum(np.floor(last).astype(np.int64) + 2, q0 + 1), psize)
        return p0, p1, first, step, q0, q1

    def crops(self, coeffs: np.ndarray, xyxy: np.ndarray, geo: Geometry) -> CroppedMasks:
        """The same masks kept at their boxes (``CroppedMasks``: the full stack only when asked for)."""
        h, w = geo.shape
        box = np.asarray(xyxy, np.float64).reshape(-1, 4)
        c0, c1, fx, sx, px0, px1 = self._spans(
            box[:, 0], box[:, 2], w, geo.gain_x, geo.pad_x, self.scale_x, self.pw
        )
        r0, r1, fy, sy, py0, py1 = self._spans(
            box[:, 1], box[:, 3], h, geo.gain_y, geo.pad_y, self.scale_y, self.ph
        )
        coeffs = np.asarray(coeffs, np.float32)
        nm, cv2, protos = self.protos.shape[0], self.cv2, self.protos
        affine = np.array([[sx, 0.0, 0.0], [0.0, sy, 0.0]])  # the step is one for every box
        warp = 0 if cv2 is None else cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        parts: List[np.ndarray] = []
        # plain Python numbers in the loop: it runs once per kept detection, each over a few pixels
        spans = zip(*(v.tolist() for v in (r0, r1, c0, c1, py0, py1, px0, px1, fy, fx)))
        for i, (a0, a1, b0, b1, q0, q1, p0, p1, y, x) in enumerate(spans):
            rows, cols = a1 - a0, b1 - b0
            if rows <= 0 or cols <= 0:
                parts.append(np.zeros((max(rows, 0), max(cols, 0)), bool))
                continue
            region = protos[:, q0:q1, p0:p1]
            logits = (coeffs[i] @ region.reshape(nm, -1)).reshape(q1 - q0, p1 - p0)
            x, y = x - p0, y - q0  # the first sample, in the region's pixels
            if cv2 is None or rows < 2 or cols < 2:
                sampled = _sample_numpy(logits, x + sx * np.arange(cols), y + sy * np.arange(rows))
            else:
                affine[0, 2], affine[1, 2] = x, y
                sampled = cv2.warpAffine(
                    logits, affine, (cols, rows), flags=warp, borderMode=cv2.BORDER_REPLICATE
                )
            parts.append(sampled > 0)
        return CroppedMasks((h, w), np.stack([r0, c0], 1), parts)

    def proto_masks(self, coeffs: np.ndarray, xyxy_input: np.ndarray) -> np.ndarray:
        """(N, Hp, Wp) bool masks at prototype resolution (input coordinates, letterbox included),
        each inside its box ``xyxy_input`` (input pixels)."""
        n = len(xyxy_input)
        out = np.zeros((n, self.ph, self.pw), dtype=bool)
        for i, (box, c) in enumerate(zip(xyxy_input, np.asarray(coeffs, np.float32))):
            c0, c1 = pixel_span(box[0] * self.scale_x, box[2] * self.scale_x, self.pw)
            r0, r1 = pixel_span(box[1] * self.scale_y, box[3] * self.scale_y, self.ph)
            if c1 > c0 and r1 > r0:
                out[i, r0:r1, c0:c1] = np.tensordot(c, self.protos[:, r0:r1, c0:c1], axes=1) > 0
        return out


def polygons(masks: np.ndarray, offset: Optional[Tuple[float, float]] = None) -> List[np.ndarray]:
    """The outline of each mask as (K, 2) float32 points (its largest contour; empty when none).
    Needs OpenCV (``cv2.findContours``)."""
    cv2 = try_cv2()
    if cv2 is None:
        raise MissingDependencyError("cv2", "cv", "mask polygons are traced with OpenCV")
    result: List[np.ndarray] = []
    for mask in masks:
        found, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not found:
            result.append(np.zeros((0, 2), np.float32))
            continue
        points = max(found, key=len).reshape(-1, 2).astype(np.float32)
        result.append(points + np.asarray(offset or (0.0, 0.0), np.float32))
    return result
