"""The one detection matcher: two models' detections, by class and IoU, never vacuous.

A detection is *required* when its score is clear of the cut that selected it (the score threshold,
or the k-th score of a top-k list) by the bounds' margin: one just at the cut may fall on the other
side in the other model and must not count. Every required detection of each model must be found in
the other's: same class (or a class the reference scores within the score bound of its pick), and
for float precisions every coordinate and the score within their elementwise bounds, for INT8 an
IoU of at least ``bounds.match_iou``; the match rate is the smaller of the two shares found.

When the reference yields too few detections (an untrained model, or a trained one on images far
from its domain), callers compare the top-k *candidates* instead (every anchor a candidate, the
best ``CANDIDATES`` per image): the cut is then the k-th score, and the check still compares scores,
classes and boxes of real model outputs instead of reporting 0/0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edgekit.verify.bounds import Bounds

CANDIDATES = 100  # top-k candidates per image when the reference has too few detections
MIN_DETECTIONS = 20  # fewer reference detections than this over the sample images: compare candidates
VERIFY_CONF = 0.05  # low, so that a trained model yields many detections to compare
VERIFY_MAX_DET = 3000  # no max_det cut: ranks among near-tied scores at the cut are not meaningful
# NMS at IoU 0.99 removes only exact duplicates, so every decoded candidate is compared: greedy NMS
# breaks near-ties by rank, which float noise can flip. NMS itself has its own tests.
VERIFY_IOU = 0.99
#: decode both sides with (conf, max_det) -> per image (reference, actual, box_scale)
Decoded = Callable[[float, int], Sequence[Tuple["Dets", "Dets", float]]]


@dataclass(frozen=True)
class Dets:
    """One image's detections as plain arrays: ``xyxy`` (N, 4), ``scores`` (N,), ``classes`` (N,);
    a reference may add ``class_scores`` (N, nc), each detection's score for every class, so that a
    class picked by the other model from a near-tie (within the score bound) still matches.
    ``points`` (N, 2P): further pixel coordinates of each detection (a pose model's keypoints),
    held to the box bound wherever the boxes are compared elementwise. ``masks`` (N, H, W): each
    detection's instance mask; paired detections' masks must agree (``mask_agrees``)."""

    xyxy: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    class_scores: Optional[np.ndarray] = None
    points: Optional[np.ndarray] = None
    masks: Optional[np.ndarray] = None

    @property
    def coords(self) -> np.ndarray:
        """The box and the points, (N, 4 + 2P)."""
        return self.xyxy if self.points is None else np.concatenate([self.xyxy, self.points], 1)

    @classmethod
    def of(cls, detections: Any) -> Dets:
        """From an ``edgekit.Detections`` (or anything with ``xyxy``, ``confidence``, ``class_id``)."""
        keypoints = getattr(detections, "keypoints", None)
        n = len(detections.confidence)
        if keypoints is not None:  # (N, K, 2 or 3) -> (N, 2K): explicit, zero detections included
            keypoints = np.asarray(keypoints, np.float64)
            keypoints = keypoints[..., :2].reshape(n, 2 * keypoints.shape[-2])
        return cls(
            np.asarray(detections.xyxy, np.float64).reshape(-1, 4),
            np.asarray(detections.confidence, np.float64).reshape(-1),
            np.asarray(detections.class_id, np.int64).reshape(-1),
            points=keypoints,
            masks=getattr(detections, "masks", None),
        )

    @classmethod
    def from_rows(cls, rows: np.ndarray) -> Dets:
        """From ``(K, 6)`` rows x1, y1, x2, y2, score, class (a top-k output)."""
        rows = np.asarray(rows, np.float64).reshape(-1, 6)
        return cls(rows[:, :4], rows[:, 4], np.round(rows[:, 5]).astype(np.int64))

    def __len__(self) -> int:
        return len(self.scores)


def _ordered(boxes: np.ndarray) -> np.ndarray:
    """Corners sorted per axis (untrained heads may emit x2 < x1; they still must match)."""
    return np.concatenate([np.minimum(boxes[:, :2], boxes[:, 2:]), np.maximum(boxes[:, :2], boxes[:, 2:])], 1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) xyxy -> (N, M) IoU."""
    a, b = _ordered(np.asarray(a, np.float64)), _ordered(np.asarray(b, np.float64))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    same = np.all(a[:, None, :] == b[None, :, :], axis=2)  # identical (even degenerate) boxes: IoU 1
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return np.where(same, 1.0, iou)


def required(dets: Dets, cut: float, bounds: Bounds, margin: bool = True) -> np.ndarray:
    """Indices of the detections clear of ``cut`` (by the bounds' margin unless ``margin`` is off:
    a cut that already carries its hysteresis), best score first."""
    idx = np.where(dets.scores > cut + (bounds.cut_margin(cut) if margin else 0.0))[0]
    return idx[np.argsort(-dets.scores[idx], kind="stable")]


def _same_class(wanted: Dets, rows: np.ndarray, pool: Dets, bounds: Bounds) -> np.ndarray:
    """(len(rows), len(pool)): the classes agree, or the reference (whichever side carries
    ``class_scores``) scores the other class within the score bound of its own pick."""
    same = wanted.classes[rows][:, None] == pool.classes[None, :]
    if bounds.score_atol is None:
        return same
    if wanted.class_scores is not None:  # wanted is the reference: its score for pool's class
        theirs = wanted.class_scores[rows][:, pool.classes]
        mine = wanted.scores[rows][:, None]
        return same | (np.abs(theirs - mine) <= bounds.score_tol(mine))
    if pool.class_scores is not None:  # pool is the reference: its score for wanted's class
        theirs = pool.class_scores[:, wanted.classes[rows]].T
        mine = pool.scores[None, :]
        return same | (np.abs(theirs - mine) <= bounds.score_tol(mine))
    return same


#: pixels a mask may differ by whatever its size (edge pixels whose logit is within rounding of 0)
MASK_EDGE_PIXELS = 4


def mask_agrees(a: np.ndarray, b: np.ndarray, bounds: Bounds) -> Tuple[bool, float]:
    """Two masks of one detection: (within the bound, their IoU). They may differ by
    ``MASK_EDGE_PIXELS`` or by ``1 - bounds.match_iou`` of their union, whichever is more."""
    if a.shape != b.shape:
        return False, 0.0
    union = int(np.count_nonzero(a | b))
    differ = int(np.count_nonzero(a ^ b))
    iou = 1.0 - differ / union if union else 1.0
    return differ <= max(MASK_EDGE_PIXELS, (1.0 - bounds.match_iou) * union), iou


def _find(
    wanted: Dets,
    rows: np.ndarray,
    pool: Dets,
    bounds: Bounds,
    box_scale: float,
    missing: Optional[list] = None,
) -> Tuple[int, List[float], List[float], List[float]]:
    """Greedy one-to-one: how many of ``wanted[rows]`` have a partner in ``pool``; their deviations.

    Float precisions pair boxes by their elementwise bound (every coordinate, and the score, within
    it: stricter than any IoU and defined for the degenerate boxes that clipping to the image makes);
    INT8 pairs them by IoU."""
    if len(rows) == 0 or len(pool) == 0:
        if missing is not None:
            missing.extend(int(r) for r in rows)
        return 0, [], [], []
    same_points = (wanted.points is None) == (pool.points is None)
    mine, theirs = (wanted.coords, pool.coords) if same_points else (wanted.xyxy, pool.xyxy)
    diff = np.abs(mine[rows][:, None, :] - theirs[None, :, :])
    box_dev = diff.max(2)
    score_dev = np.abs(wanted.scores[rows][:, None] - pool.scores[None, :])
    ok = _same_class(wanted, rows, pool, bounds)
    if bounds.elementwise:
        allowed = bounds.box_tol(mine[rows] * box_scale)[:, None, :] / box_scale
        ok &= (diff <= allowed).all(2) & (score_dev <= bounds.score_tol(wanted.scores[rows])[:, None])
    else:
        ok &= box_iou(wanted.xyxy[rows], pool.xyxy) >= bounds.match_iou
    used = np.zeros(len(pool), bool)
    boxes: List[float] = []
    scores: List[float] = []
    masks: List[float] = []  # IoU of each paired mask (a pair whose masks disagree is not found)
    compare_masks = wanted.masks is not None and pool.masks is not None
    for i in range(len(rows)):
        cand = np.where(ok[i] & ~used)[0]
        if len(cand) == 0:
            if missing is not None:  # which wanted rows had no partner (``match``: by query)
                missing.append(int(rows[i]))
            continue
        j = cand[np.argmin(box_dev[i, cand])]  # the closest box: duplicates must not inflate the figure
        if compare_masks:
            agrees, iou = mask_agrees(wanted.masks[rows[i]], pool.masks[j], bounds)
            masks.append(iou)
            if not agrees:
                continue
        used[j] = True
        boxes.append(float(box_dev[i, j]))
        scores.append(float(score_dev[i, j]))
    return len(boxes), boxes, scores, masks


def match(
    reference: Dets,
    actual: Dets,
    bounds: Bounds,
    ref_cut: float,
    act_cut: Optional[float] = None,
    box_scale: float = 1.0,
    margin: bool = True,
) -> Dict[str, Any]:
    """Match one image's detections both ways; ``box_scale`` converts their pixels to network-input
    pixels (the box bound is defined there). Returns counts, the rate and the largest deviations."""
    act_cut = ref_cut if act_cut is None else act_cut
    need_ref = required(reference, ref_cut, bounds, margin)
    need_act = required(actual, act_cut, bounds, margin)
    lost: List[int] = []
    extra: List[int] = []
    found, box_dev, score_dev, mask_iou = _find(reference, need_ref, actual, bounds, box_scale, lost)
    kept, _, _, _ = _find(actual, need_act, reference, bounds, box_scale, extra)
    swapped = _swapped_queries(reference, lost, actual, extra, bounds)
    if swapped:  # rows of queries the selection swapped at its boundary: neither required nor found
        need_ref = need_ref[~np.isin(need_ref, lost)]
        need_act = need_act[~np.isin(need_act, extra)]
    return {
        "swapped_queries": swapped,
        "score_levels": score_levels(reference, actual, bounds),
        "reference": len(reference),
        "actual": len(actual),
        "required": len(need_ref),
        "found": found,
        "required_actual": len(need_act),
        "kept": kept,
        "max_box_px": max(box_dev, default=0.0),
        "max_score_diff": max(score_dev, default=0.0),
        "masks_compared": len(mask_iou),
        "min_mask_iou": min(mask_iou, default=1.0),
    }


def _swapped_queries(reference: Dets, lost: List[int], actual: Dets, extra: List[int], bounds: Bounds) -> int:
    """How many queries' rows went unmatched, where that may be a selection-boundary swap: a DETR
    head keeps the Q best of thousands of encoder cells by a score that ties within float noise on
    real inputs, so two equal models may keep a different query at the boundary; all its rows
    (one per class, one shared box) then lack a partner. Up to ``bounds.query_swaps`` x the rows'
    distinct queries may; more is a difference (0 = not a query head: no swap allowed)."""
    if bounds.query_swaps <= 0 or not (lost or extra):
        return 0
    groups = [
        len({tuple(np.round(d.xyxy[i], 3)) for i in idx}) for d, idx in ((reference, lost), (actual, extra))
    ]
    queries = len({tuple(b) for b in np.round(reference.xyxy, 3)})
    allowed = max(1, int(np.ceil(bounds.query_swaps * queries)))
    return max(groups) if max(groups) <= allowed else 0


def score_levels(reference: Dets, actual: Dets, bounds: Bounds) -> Optional[float]:
    """Both sides' scores sorted and compared rank by rank: the worst ``|a - b| / allowed`` (None
    where either side is empty or the bounds have no score bound). For a tied plateau, where no
    candidate clears the cut by the score bound, this is what can still be compared."""
    n = min(len(reference), len(actual))
    if n == 0 or bounds.score_atol is None:
        return None
    ref = np.sort(reference.scores)[::-1][:n]
    act = np.sort(actual.scores)[::-1][:n]
    return float(np.max(np.abs(act - ref) / bounds.score_tol(ref)))


def summarize(per_image: Sequence[Dict[str, Any]], bounds: Bounds, mode: str) -> Dict[str, Any]:
    """Aggregate per-image matches; ``ok`` says whether the bounds' match rate is met.

    Candidates tied on a plateau (an untrained model whose scores barely depend on the image:
    the top-100 spread 1.9e-7..1.1e-5, below the score bound) leave nothing that clears the cut on
    either side. Then the check is the plateau itself: on every image both sides' sorted scores
    agree rank by rank within the score bound (``tied``); which tied anchors each side ranks first
    is not a difference."""

    def total(key: str) -> int:
        return int(sum(r[key] for r in per_image))

    need, need_act = total("required"), total("required_actual")
    found_rate = total("found") / need if need else 1.0
    kept_rate = total("kept") / need_act if need_act else 1.0
    rate = min(found_rate, kept_rate)
    return {
        "mode": mode,  # "detections" (above the threshold) or "candidates" (top-k per image)
        "images": len(per_image),
        "reference": total("reference"),
        "actual": total("actual"),
        "required": need,
        "found": total("found"),
        "required_actual": need_act,
        "kept": total("kept"),
        "match_rate": round(rate, 4),
        "min_match_rate": bounds.min_match_rate,
        "match_iou": bounds.match_iou,
        "max_box_px": max((r["max_box_px"] for r in per_image), default=0.0),
        "max_score_diff": max((r["max_score_diff"] for r in per_image), default=0.0),
        "masks_compared": total("masks_compared"),
        "swapped_queries": total("swapped_queries"),
        "min_mask_iou": round(min((r["min_mask_iou"] for r in per_image), default=1.0), 4),
        "ok": bool(need + need_act > 0 and rate >= bounds.min_match_rate),
        **_plateau(per_image, mode, need + need_act),
    }


def _plateau(per_image: Sequence[Dict[str, Any]], mode: str, required_total: int) -> Dict[str, Any]:
    """The tied-plateau verdict (see ``summarize``); empty where it does not apply."""
    levels = [r.get("score_levels") for r in per_image]
    if mode != "candidates" or required_total > 0 or not levels or any(v is None for v in levels):
        return {}
    worst = max(float(v) for v in levels if v is not None)
    return {"tied": True, "score_levels_worst": round(worst, 4), "ok": worst <= 1.0}


def describe(summary: Dict[str, Any]) -> str:
    """``42/42 detections found both ways`` / ``100/100 top-k candidates ...`` for messages."""
    what = "detections" if summary["mode"] == "detections" else "top-k candidates"
    if summary.get("tied"):
        return (
            f"{summary['reference']} top-k candidates tied within the score bound on every image: "
            f"sorted scores agree at {summary['score_levels_worst']:.2g}x the bound "
            "(rank order of tied anchors not compared)"
        )
    if summary["required"] + summary["required_actual"] == 0:  # never a pass: the check is not vacuous
        return (
            f"nothing to compare: none of the {summary['reference']} reference and {summary['actual']} "
            f"{what} clears the cut by the score bound (no rank-by-rank score comparison applies)"
        )
    masks = (
        f", {summary['masks_compared']} masks, IoU >= {summary['min_mask_iou']:.3f}"
        if summary.get("masks_compared")
        else ""
    )
    swapped = (
        f", {summary['swapped_queries']} queries swapped at the selection boundary"
        if summary.get("swapped_queries")
        else ""
    )
    return (
        f"{summary['found']}/{summary['required']} {what} found, {summary['kept']}/"
        f"{summary['required_actual']} kept (rate {summary['match_rate']:.3f}, max "
        f"{summary['max_box_px']:.3g} px{masks}{swapped})"
    )


def agreement(decoded: Decoded, bounds: Bounds, floor: float = 0.0) -> Dict[str, Any]:
    """Detections of the actual model against the reference's, never vacuous.

    ``decoded(conf, max_det)`` decodes both on every sample image. First the detections above
    ``max(VERIFY_CONF, floor)``; when the reference has fewer than ``MIN_DETECTIONS`` over all
    images, the best ``CANDIDATES`` per image above ``floor`` (a model with NMS in its graph keeps
    nothing below its own threshold: ``floor``), each side cut at its own k-th score when full.
    """
    summary: Dict[str, Any] = {}
    for mode, conf, max_det in (
        ("detections", max(VERIFY_CONF, floor), VERIFY_MAX_DET),
        ("candidates", floor, CANDIDATES),
    ):
        per_image = []
        for ref, got, box_scale in decoded(conf, max_det):
            full = mode == "candidates" and len(ref) >= max_det
            ref_cut = float(ref.scores.min()) if full else conf
            act_cut = float(got.scores.min()) if full and len(got) >= max_det else conf
            per_image.append(match(ref, got, bounds, ref_cut, act_cut, box_scale=box_scale))
        summary = summarize(per_image, bounds, mode)
        if summary["reference"] >= MIN_DETECTIONS:
            break
    return summary
