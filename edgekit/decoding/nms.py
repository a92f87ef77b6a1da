"""Class-aware non-maximum suppression: exact greedy NMS, whichever implementation is fastest here.

1. onnxruntime's compiled kernel when onnxruntime imports (``edgekit.decoding.ort_nms``);
2. else vectorized Cluster-NMS when the overlapping pairs are few;
3. else OpenCV's compiled NMS (any ``cv2`` that imports), else a numpy loop.

Classes are kept apart by offsetting each class's boxes, so one call serves all classes.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from edgekit.decoding.images import try_cv2
from edgekit.decoding.ort_nms import ort_nms

_CV2: Any = try_cv2()
USE_ORT = True  # tests switch implementations off to compare them


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


MAX_PAIRS = 300_000  # above this many same-class pairs the compiled greedy NMS is faster


def _overlaps(coords: np.ndarray, area: np.ndarray, first: np.ndarray, second: np.ndarray, iou: float):
    """Mask of pairs whose IoU exceeds ``iou`` (no division: inter > iou * union)."""
    x1, y1, x2, y2 = coords
    w = np.minimum(x2[first], x2[second])
    w -= np.maximum(x1[first], x1[second])
    h = np.minimum(y2[first], y2[second])
    h -= np.maximum(y1[first], y1[second])
    np.maximum(w, 0, out=w)
    np.maximum(h, 0, out=h)
    inter = w * h
    union = area[first] + area[second]
    union -= inter
    return inter > union * np.float32(iou)


def cluster_nms(
    boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, iou: float
) -> Optional[np.ndarray]:
    """Exact greedy NMS, vectorized (Cluster-NMS): kept indices best first, or None when the
    candidate pair count exceeds ``MAX_PAIRS`` (the caller falls back to a compiled loop).

    Only pairs that can overlap are formed: boxes are sorted by (group, x1), and box ``j`` is
    paired with ``i`` while ``x1_j < x2_i``. Each pair is oriented from the higher-ranked box
    (score, then index, as a stable greedy sort) to the lower. Iterating ``kept = not
    suppressed by any kept box`` converges to exactly the greedy result (each round fixes at
    least one more box of the longest suppression chain).
    """
    n = len(boxes)
    coords = np.ascontiguousarray(boxes.T, dtype=np.float32)
    x1 = np.minimum(coords[0], coords[2])
    span = float(np.abs(coords).max()) * 4 + 1  # separates groups on one sorted key axis
    key = groups.astype(np.float64) * span + x1
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    right = groups[order].astype(np.float64) * span + np.maximum(coords[0], coords[2])[order]
    upper = np.searchsorted(sorted_key, right, side="left")  # first box starting right of x2
    counts = np.maximum(upper - np.arange(n) - 1, 0)
    total = int(counts.sum())
    if total > MAX_PAIRS:
        return None
    a = np.repeat(np.arange(n), counts)
    b = a + 1 + (np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts))
    a, b = order[a], order[b]
    area = (coords[2] - coords[0]) * (coords[3] - coords[1])
    hit = _overlaps(coords, area, a, b, iou)
    a, b = a[hit], b[hit]
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(-scores, kind="stable")] = np.arange(n)  # 0 = best
    a_first = rank[a] < rank[b]
    src, dst = np.where(a_first, a, b), np.where(a_first, b, a)
    keep = np.ones(n, dtype=bool)
    for _ in range(n):
        suppressed = np.zeros(n, dtype=bool)
        suppressed[dst[keep[src]]] = True
        new_keep = ~suppressed
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    kept = np.flatnonzero(keep)
    return kept[np.argsort(rank[kept], kind="stable")]


def class_offset_boxes(boxes: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Shift each group's boxes far apart, so boxes of different classes never overlap."""
    span = float(np.abs(boxes).max()) * 2 + 1 if len(boxes) else 1.0
    return boxes.astype(np.float32) + groups.astype(np.float32)[:, None] * np.float32(span)


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
    groups = np.zeros(len(boxes), dtype=np.int64) if agnostic else classes.astype(np.int64)
    compiled = ort_nms() if USE_ORT else None
    if compiled is not None:
        # one class (the offsets keep classes apart): greedy selection order is descending score
        return compiled(class_offset_boxes(boxes, groups), scores, iou, max_det)
    keep = cluster_nms(boxes.astype(np.float32, copy=False), scores, groups, iou)
    if keep is not None:
        return keep[:max_det] if max_det is not None else keep
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
        keep = nms_numpy(class_offset_boxes(boxes, groups), scores, iou)
    return keep[:max_det] if max_det is not None else keep
