"""Class-aware non-maximum suppression: OpenCV's compiled NMS when cv2 imports, numpy otherwise."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from edgekit.decoding.images import try_cv2

_CV2: Any = try_cv2()


def nms_numpy(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy NMS over (N, 4) xyxy boxes; returns kept indices ordered by descending score."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        union = areas[i] + areas[rest] - inter
        overlap = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    iou: float,
    agnostic: bool = False,
    max_det: Optional[int] = None,
) -> np.ndarray:
    """Indices kept by per-class NMS (all classes at once), best first, at most ``max_det``."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    if _CV2 is not None:
        xywh = boxes.astype(np.float32, copy=True)
        xywh[:, 2:] -= xywh[:, :2]
        if agnostic:
            keep = _CV2.dnn.NMSBoxes(xywh, scores.astype(np.float32), 0.0, float(iou))
        else:
            keep = _CV2.dnn.NMSBoxesBatched(
                xywh, scores.astype(np.float32), classes.astype(np.int32), 0.0, float(iou)
            )
        keep = np.asarray(keep, dtype=np.int64).reshape(-1)
        keep = keep[np.argsort(-scores[keep], kind="stable")]
    else:
        if agnostic:
            shifted = boxes
        else:  # offset each class far apart so boxes of different classes never overlap
            offset = classes.astype(np.float32)[:, None] * (float(np.abs(boxes).max()) * 2 + 1)
            shifted = boxes + offset
        keep = nms_numpy(shifted, scores, iou)
    return keep[:max_det] if max_det is not None else keep
