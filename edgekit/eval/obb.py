"""Oriented-box mAP: COCO's protocol with the exact IoU of the rotated boxes' polygons.

faster-coco-eval has no rotated IoU, so this module runs COCO's ``evaluateImg`` / ``accumulate``
itself (numpy only): per image and class the ``max_dets`` highest-scoring detections are
matched greedily, best score first, each to the unmatched ground truth it overlaps most at
IoU >= the threshold (0.50:0.95); per class the precision envelope is read at COCO's 101
recall points, and the means run over the classes with ground truth. The overlap is the area of
the two rectangles' intersection (convex polygons clipped by Sutherland-Hodgman, vectorised over
all pairs) over their union. Crowd annotations are left out.

``overlap="probiou"`` matches by the probabilistic IoU of the boxes' Gaussians instead (what
Ultralytics' ``yolo val`` matches OBB detections by): it reads higher than the polygon IoU for the
same pair (a box 1 px off on a 10 px shape keeps a higher probiou), so mAP50-95 by probiou is not
comparable with DOTA-style polygon-IoU figures.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np

from edgekit.decoding.rotated import corners, probiou
from edgekit.eval.result import EvalResult

#: how a detection's overlap with a ground-truth box is measured
OVERLAPS = ("polygon", "probiou")
IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
_CHUNK = 65536  # polygon pairs clipped at once


def polygon_area(points: np.ndarray) -> np.ndarray:
    """Signed shoelace area of each polygon (..., V, 2): positive when counter-clockwise."""
    x, y = points[..., 0], points[..., 1]
    return 0.5 * (x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y).sum(axis=-1)


def _ccw(polygons: np.ndarray) -> np.ndarray:
    flip = polygon_area(polygons) < 0
    out = polygons.copy()
    out[flip] = out[flip, ::-1]
    return out


def _clip(poly: np.ndarray, count: np.ndarray, a: np.ndarray, b: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Clip each polygon (P, V, 2) with ``count`` vertices by the half-plane left of a -> b."""
    p, v = poly.shape[:2]
    i = np.arange(v)[None, :]
    nxt_i = (i + 1) % np.maximum(count, 1)[:, None]
    cur, nxt = poly, np.take_along_axis(poly, nxt_i[..., None], axis=1)
    edge = (b - a)[:, None, :]
    side = lambda q: edge[..., 0] * (q[..., 1] - a[:, None, 1]) - edge[..., 1] * (q[..., 0] - a[:, None, 0])  # noqa: E731
    dc, dn = side(cur), side(nxt)
    valid = i < count[:, None]
    cur_in, nxt_in = dc >= 0, dn >= 0
    crossing = valid & (cur_in != nxt_in)
    t = np.where(crossing, dc / np.where(crossing, dc - dn, 1.0), 0.0)
    slots = np.stack([cur + t[..., None] * (nxt - cur), nxt], axis=2).reshape(p, 2 * v, 2)
    keep = np.stack([crossing, valid & nxt_in], axis=2).reshape(p, 2 * v)
    order = np.argsort(~keep, axis=1, kind="stable")[:, : min(2 * v, 16)]  # a convex 4 x 4 cut has <= 8
    return np.take_along_axis(slots, order[..., None], axis=1), keep.sum(axis=1).clip(max=order.shape[1])


def _intersection(p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    """Intersection area of paired convex counter-clockwise polygons (P, V, 2)."""
    poly, count = p1, np.full(len(p1), p1.shape[1])
    for k in range(p2.shape[1]):
        poly, count = _clip(poly, count, p2[:, k], p2[:, (k + 1) % p2.shape[1]])
    i = np.arange(poly.shape[1])[None, :]
    nxt = np.take_along_axis(poly, ((i + 1) % np.maximum(count, 1)[:, None])[..., None], axis=1)
    cross = poly[..., 0] * nxt[..., 1] - nxt[..., 0] * poly[..., 1]
    return np.clip(0.5 * np.where(i < count[:, None], cross, 0.0).sum(axis=1), 0.0, None)


def polygon_iou(polygons1: np.ndarray, polygons2: np.ndarray) -> np.ndarray:
    """IoU (N, M) of convex polygons (N, V, 2) and (M, W, 2), either vertex order."""
    if not len(polygons1) or not len(polygons2):
        return np.zeros((len(polygons1), len(polygons2)))
    a = _ccw(np.asarray(polygons1, np.float64).reshape(len(polygons1), -1, 2))
    b = _ccw(np.asarray(polygons2, np.float64).reshape(len(polygons2), -1, 2))
    ia, ib = (g.ravel() for g in np.meshgrid(np.arange(len(a)), np.arange(len(b)), indexing="ij"))
    inter = np.concatenate(
        [_intersection(a[ia[s : s + _CHUNK]], b[ib[s : s + _CHUNK]]) for s in range(0, len(ia), _CHUNK)]
    )
    union = polygon_area(a)[ia] + polygon_area(b)[ib] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0).reshape(len(a), len(b))


def rotated_iou(xywhr1: np.ndarray, xywhr2: np.ndarray) -> np.ndarray:
    """Exact IoU (N, M) of rotated boxes ``xywhr`` (angle in radians)."""
    # the corners in float64: an IoU near 1 stays exact
    return polygon_iou(corners(xywhr1, np.float64), corners(xywhr2, np.float64))


def _match(iou: np.ndarray) -> np.ndarray:
    """COCO's greedy matching: (T, D) whether each detection (best score first) found a truth."""
    matched = np.zeros((len(IOU_THRESHOLDS), iou.shape[0]), bool)
    taken = np.zeros((len(IOU_THRESHOLDS), iou.shape[1]), bool)
    for d in range(iou.shape[0]):
        if not iou.shape[1] or iou[d].max() < IOU_THRESHOLDS[0]:
            continue
        cand = np.where(taken | (iou[d][None, :] < IOU_THRESHOLDS[:, None]), -1.0, iou[d][None, :])
        best = cand.argmax(axis=1)
        hit = cand[np.arange(len(best)), best] >= 0
        matched[hit, d] = True
        taken[np.flatnonzero(hit), best[hit]] = True
    return matched


def _accumulate(
    scores: List[np.ndarray], matches: List[np.ndarray], n_gt: int
) -> Tuple[np.ndarray, np.ndarray]:
    """One class's precision (T, R) at COCO's recall points and recall (T,); -1 without truth."""
    t = len(IOU_THRESHOLDS)
    if n_gt == 0:
        return -np.ones((t, len(RECALL_POINTS))), -np.ones(t)
    score = np.concatenate(scores) if scores else np.zeros(0)
    order = np.argsort(-score, kind="mergesort")
    tp = np.concatenate(matches, axis=1)[:, order] if scores else np.zeros((t, 0), bool)
    tps, fps = np.cumsum(tp, axis=1), np.cumsum(~tp, axis=1)
    precision, recall = np.zeros((t, len(RECALL_POINTS))), np.zeros(t)
    for k in range(t):
        rc = tps[k] / n_gt
        pr = np.maximum.accumulate((tps[k] / (tps[k] + fps[k] + np.spacing(1)))[::-1])[::-1]
        recall[k] = rc[-1] if len(rc) else 0.0
        idx = np.searchsorted(rc, RECALL_POINTS, side="left")
        precision[k] = np.where(idx < len(pr), pr[np.minimum(idx, len(pr) - 1)] if len(pr) else 0.0, 0.0)
    return precision, recall


def evaluate_obb(
    data: Mapping[str, Any],
    results: Sequence[Mapping[str, Any]],
    cat_ids: List[int],
    names: List[str],
    max_dets: int,
    overlap: str = "polygon",
) -> EvalResult:
    """Oriented-box mAP of COCO results rows with ``xywhr`` against ground truth with ``xywhr``,
    matched by ``overlap`` (``OVERLAPS``: exact polygon IoU, or Ultralytics' probiou)."""
    if overlap not in OVERLAPS:
        raise ValueError(f"unknown overlap {overlap!r}; choose one of {', '.join(OVERLAPS)}")
    iou_of = rotated_iou if overlap == "polygon" else probiou
    gts: Dict[Tuple[int, int], List[Sequence[float]]] = defaultdict(list)
    for ann in data["annotations"]:
        if not ann.get("iscrowd", 0) and int(ann["category_id"]) in cat_ids:
            gts[int(ann["image_id"]), int(ann["category_id"])].append(ann["xywhr"])
    dts: Dict[Tuple[int, int], List[Mapping[str, Any]]] = defaultdict(list)
    for row in results:
        dts[int(row["image_id"]), int(row["category_id"])].append(row)
    scores: Dict[int, List[np.ndarray]] = defaultdict(list)
    matches: Dict[int, List[np.ndarray]] = defaultdict(list)
    for img in data["images"]:
        for cat in cat_ids:
            rows = dts.get((int(img["id"]), cat), [])
            order = np.argsort([-float(r["score"]) for r in rows], kind="mergesort")[:max_dets]
            if not len(order):
                continue
            boxes = np.array([rows[i]["xywhr"] for i in order], np.float64).reshape(-1, 5)
            truth = np.array(gts.get((int(img["id"]), cat), []), np.float64).reshape(-1, 5)
            scores[cat].append(np.array([float(rows[i]["score"]) for i in order]))
            matches[cat].append(_match(np.asarray(iou_of(boxes, truth), np.float64).reshape(len(boxes), -1)))
    n_gt = {c: sum(len(v) for (_, k), v in gts.items() if k == c) for c in cat_ids}
    per = {c: _accumulate(scores[c], matches[c], n_gt[c]) for c in cat_ids}
    return _result(per, n_gt, cat_ids, names, len(data["images"]), len(results), max_dets)


def _mean(x: np.ndarray) -> float:
    valid = x[x > -1]
    return float(valid.mean()) if valid.size else 0.0


def _result(
    per: Dict[int, Tuple[np.ndarray, np.ndarray]],
    n_gt: Dict[int, int],
    cat_ids: List[int],
    names: List[str],
    n_images: int,
    n_detections: int,
    max_dets: int,
) -> EvalResult:
    precision = np.stack([per[c][0] for c in cat_ids], axis=-1)  # (T, R, K)
    recall = np.stack([per[c][1] for c in cat_ids], axis=-1)  # (T, K)
    i75 = int(np.argmin(np.abs(IOU_THRESHOLDS - 0.75)))

    def class_ap(k: int, rows: Any = slice(None)) -> Any:
        return _mean(precision[rows, :, k]) if n_gt[cat_ids[k]] else None

    return EvalResult(
        map50_95=_mean(precision),
        map50=_mean(precision[0]),
        map75=_mean(precision[i75]),
        ap_small=None,
        ap_medium=None,
        ap_large=None,
        ar100=_mean(recall),
        per_class_ap={n: class_ap(k) for k, n in enumerate(names)},
        per_class_ap50={n: class_ap(k, 0) for k, n in enumerate(names)},
        per_class_gt={n: n_gt[c] for n, c in zip(names, cat_ids)},
        n_images=n_images,
        n_detections=n_detections,
        n_gt=sum(n_gt.values()),
        max_dets=max_dets,
        recall50=_mean(recall[0]),
        iou_type="obb",
    )
