"""Per-output comparison of two models' tensors, by what each output means (its manifest role).

``check_output`` returns one ``OutputCheck`` row with the same metrics for every output (max abs,
max rel, cosine, SNR) and the verdict of the bound that fits its role (``edgekit.verify.bounds``):

- boxes (``boxes``, ``det_boxes``) and keypoints: elementwise, in pixels; rotated boxes
  (``rboxes``) by their four corners, in pixels, so an angle error counts by how far it moves them;
- probabilities (``scores``, ``best_scores``, ``det_scores``, ``keypoint_scores``): elementwise,
  absolute + logit;
- ``boxes_scores``: split into its box and score channels, each bounded as above;
- ``detections`` (top-k rows; ``rotated_detections`` for OBB, matched by the boxes around them):
  matched as detections with the k-th score as the cut, so rank swaps among near-equal scores are
  not differences (a task's further values per row are compared through the decoded detections);
- class indices and NMS indices: reported, compared through the decoded detections (near-tied
  class scores may pick either class);
- anything else (logits, DFL distributions): SNR and cosine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from edgekit.verify.bounds import Bounds
from edgekit.verify.detections import Dets, match, summarize
from edgekit.verify.metrics import as_array, cosine_similarity, max_abs_error, max_rel_error, snr_db

BOX_ROLES = ("boxes", "det_boxes", "keypoints")  # pixels (keypoints: x, y pairs)
SCORE_ROLES = ("scores", "best_scores", "det_scores", "keypoint_scores")  # probabilities
#: top-k rows ``(B, K, 6 + E)`` matched as detections (OBB rows: centre and size, then the angle last)
ROW_ROLES = ("detections", "rotated_detections")
INDEX_ROLES = ("best_classes", "det_classes", "nms_indices", "num_dets")


@dataclass
class OutputCheck:
    """One output of a comparison: its metrics, the bound that applied and the verdict."""

    name: str
    role: str
    shape: List[int]
    max_abs: float
    max_rel: float
    cosine: float
    snr_db: float
    bound: str  # what was bounded, in words
    worst: Optional[float] = None  # elementwise: max |a - b| / allowed (<= 1 passes)
    ok: bool = True
    problem: str = ""

    def to_dict(self) -> Dict[str, Any]:
        return {k: (round(v, 9) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _channels_last(x: np.ndarray, layout: str) -> np.ndarray:
    return np.swapaxes(x, -1, -2) if layout == "BCN" and x.ndim == 3 else x


def _ratio(diff: np.ndarray, allowed: np.ndarray) -> float:
    if diff.size == 0:
        return 0.0
    if not np.all(np.isfinite(diff)):
        return float("inf")
    return float(np.max(diff / np.maximum(allowed, 1e-30)))


def _elementwise(
    a: np.ndarray,
    b: np.ndarray,
    kind: str,
    bounds: Bounds,
    noise: float = 0.0,
    anchor_scores: Optional[np.ndarray] = None,
) -> Optional[float]:
    """max |a - b| / allowed over ``kind`` ("box" or "score") elements; None when not bounded.
    ``noise``: the reference model's own float32 rounding, scaled (``bounds.FLOAT_NOISE_FACTOR``);
    ``anchor_scores``: each anchor's best reference score, channels-last boxes ``(B, N, 4)``
    are then bounded only where it reaches ``bounds.box_min_score``."""
    if kind == "box":
        if bounds.box_atol_px is None:
            return None
        if bounds.box_min_score > 0 and anchor_scores is not None and anchor_scores.shape == b.shape[:-1]:
            keep = anchor_scores >= bounds.box_min_score
            a, b = a[keep], b[keep]
        return _ratio(np.abs(a - b), bounds.box_tol(b) + noise)
    if bounds.score_atol is None:
        return None
    return _ratio(np.abs(a - b), bounds.score_tol(b) + noise)


def _bound_text(kind: str, bounds: Bounds) -> str:
    if kind == "box" and bounds.box_atol_px is not None:
        where = f" where score >= {bounds.box_min_score:g}" if bounds.box_min_score > 0 else ""
        return f"|d| <= {bounds.box_atol_px:g} px + {bounds.box_rtol:g}|x|{where}"
    if kind == "score" and bounds.score_atol is not None:
        return f"|d| <= {bounds.score_atol:g} + {bounds.score_logit:g} p(1-p)"
    if kind == "box" and bounds.min_cosine is not None:
        return f"cosine >= {bounds.min_cosine:g}"
    return "reported"


def _as_rows(x: np.ndarray, rotated: bool) -> np.ndarray:
    """``(B, K, 6)`` rows x1, y1, x2, y2, score, class of top-k rows with a task's values after them."""
    rows = x.reshape(-1, x.shape[-2], x.shape[-1])
    if not rotated:
        return rows[..., :6]
    from edgekit.decoding.rotated import enclosing_xyxy

    boxes = enclosing_xyxy(np.concatenate([rows[..., :4], rows[..., 6:7]], -1).reshape(-1, 5))
    return np.concatenate([boxes.reshape(*rows.shape[:2], 4), rows[..., 4:6]], -1)


def _topk_rows(a: np.ndarray, b: np.ndarray, bounds: Bounds, rotated: bool = False) -> Dict[str, Any]:
    """Top-k rows ``(B, K, 6 + E)`` matched as detections, the k-th reference score as the cut."""
    a, b = _as_rows(a, rotated), _as_rows(b, rotated)
    per_image = []
    for got, want in zip(a, b):
        cut = float(np.min(want[:, 4])) if len(want) else 0.0
        act_cut = float(np.min(got[:, 4])) if len(got) else 0.0
        per_image.append(match(Dets.from_rows(want), Dets.from_rows(got), bounds, cut, act_cut))
    return summarize(per_image, bounds, "candidates")


def check_output(
    name: str,
    role: str,
    actual: Any,
    reference: Any,
    bounds: Bounds,
    layout: str = "BNC",
    noise: float = 0.0,
    anchor_scores: Optional[np.ndarray] = None,
) -> OutputCheck:
    """Compare one output of ``actual`` against ``reference`` under ``bounds``; ``noise`` widens the
    elementwise bounds by the reference model's own float32 rounding on this input (already
    scaled by ``FLOAT_NOISE_FACTOR``; see ``edgekit.verify.bounds``); ``anchor_scores``
    (``(B, N)``, each anchor's best reference probability) limits box bounds to
    ``bounds.box_min_score``."""
    a, b = as_array(actual), as_array(reference)
    row = OutputCheck(name, role, list(b.shape), max_abs_error(a, b), max_rel_error(a, b), 0.0, 0.0, "")
    if a.shape != b.shape:
        row.ok, row.problem, row.bound = False, f"shape {list(a.shape)} != reference {list(b.shape)}", "shape"
        return row
    row.cosine, row.snr_db = cosine_similarity(a, b), snr_db(b, a)
    if role in INDEX_ROLES:
        row.bound = "through the detections"
        return row
    if role in ROW_ROLES:
        summary = _topk_rows(a, b, bounds, rotated=role == "rotated_detections")
        row.bound = f"rows matched: class, IoU >= {bounds.match_iou:g}, rate >= {bounds.min_match_rate:g}"
        row.ok = summary["ok"]
        if summary.get("tied"):
            row.bound = "rows tied on a score plateau: sorted scores within the score bound"
            row.worst = summary["score_levels_worst"]
        if not row.ok:
            row.problem = (
                f"top-k rows match at rate {summary['match_rate']:.3f} < {bounds.min_match_rate} "
                f"({summary['found']}/{summary['required']} found)"
                + (
                    f"; tied scores at {summary['score_levels_worst']:.3g}x the bound"
                    if summary.get("tied")
                    else ""
                )
            )
        return row
    parts, anchor_scores = _parts(role, a, b, layout, anchor_scores)
    if not parts:
        return _raw(row, bounds, float(np.max(np.abs(b))) if b.size else 0.0, noise)
    texts = []
    for kind, (x, y) in parts.items():
        worst = _elementwise(x, y, kind, bounds, noise, anchor_scores)
        texts.append(_bound_text(kind, bounds) + (f" + {noise:.2g} model f32 noise" if noise > 0 else ""))
        if worst is not None:
            row.worst = max(row.worst or 0.0, worst)
        elif kind == "box" and bounds.min_cosine is not None and cosine_similarity(x, y) < bounds.min_cosine:
            row.ok, row.problem = False, f"box cosine {cosine_similarity(x, y):.4f} < {bounds.min_cosine}"
    row.bound = "; ".join(texts)
    if row.worst is not None and not row.worst <= 1.0:
        row.ok = False
        row.problem = f"differs by {row.worst:.3g}x its bound ({row.bound}; max |d| {row.max_abs:.3g})"
    return row


def _parts(
    role: str, a: np.ndarray, b: np.ndarray, layout: str, anchor_scores: Optional[np.ndarray]
) -> Tuple[Dict[str, Any], Optional[np.ndarray]]:
    """The box and score parts of an output by its role (channels last), and the anchor scores
    that bound its boxes (a ``boxes_scores`` tensor carries its own)."""
    if role in BOX_ROLES:
        return {"box": (_channels_last(a, layout), _channels_last(b, layout))}, anchor_scores
    if role == "rboxes":
        from edgekit.decoding.rotated import corners

        a_last, b_last = _channels_last(a, layout), _channels_last(b, layout)
        points = [corners(x.reshape(-1, 5)).reshape(*x.shape[:-1], 8) for x in (a_last, b_last)]
        return {"box": (points[0], points[1])}, anchor_scores
    if role in SCORE_ROLES:
        return {"score": (a, b)}, anchor_scores
    if role != "boxes_scores":
        return {}, anchor_scores
    a_last, b_last = _channels_last(a, layout), _channels_last(b, layout)
    parts = {"box": (a_last[..., :4], b_last[..., :4]), "score": (a_last[..., 4:], b_last[..., 4:])}
    return parts, (b_last[..., 4:].max(-1) if b_last.shape[-1] > 4 else None)


def _raw(row: OutputCheck, bounds: Bounds, scale: float, noise: float = 0.0) -> OutputCheck:
    """Raw tensors (logits, distributions): relative to their range ``scale`` (max|reference|), SNR,
    cosine; ``noise`` (the model's own scaled f32 rounding) widens the range and SNR rules."""
    rules = []
    if bounds.raw_rtol is not None:
        allowed = bounds.raw_rtol * scale + noise
        rules.append(
            (
                row.max_abs <= allowed,
                f"max|d|/max|x| <= {bounds.raw_rtol:g}"
                + (f" + {noise:.2g} model f32 noise" if noise else ""),
                f"max|d|/max|x| = {row.max_rel:.3g} > {allowed / scale if scale else 0.0:.3g}",
            )
        )
    min_snr = bounds.raw_min_snr_db
    if min_snr is not None and noise > 0 and scale > 0:  # the SNR that noise alone would leave
        min_snr = min(min_snr, 20.0 * float(np.log10(scale / noise)))
    if min_snr is not None:
        rules.append(
            (
                row.snr_db >= min_snr,
                f"SNR >= {min_snr:.3g} dB",
                f"SNR {row.snr_db:.1f} dB < {min_snr:.3g} dB",
            )
        )
        if bounds.min_cosine is not None:
            rules.append(
                (
                    row.cosine >= bounds.min_cosine,
                    f"cosine >= {bounds.min_cosine:g}",
                    f"cosine {row.cosine:.6f} < {bounds.min_cosine:g}",
                )
            )
    row.bound = ", ".join(text for _, text, _ in rules) or "reported"
    failed = [problem for ok, _, problem in rules if not ok]
    if failed:
        row.ok, row.problem = False, failed[0]
    return row


def check_outputs(
    actual: Mapping[str, Any],
    reference: Mapping[str, Any],
    roles: Mapping[str, str],
    bounds: Bounds,
    layouts: Optional[Mapping[str, str]] = None,
    noise: Optional[Mapping[str, float]] = None,
) -> List[OutputCheck]:
    """``check_output`` for every name of ``reference`` (missing in ``actual``: a failed row);
    ``noise``: per output, the model's own scaled float32 rounding (see ``check_output``)."""
    rows = []
    # only a bound that limits boxes to scoring anchors needs their scores
    anchor_scores = best_anchor_scores(reference, roles, layouts or {}) if bounds.box_min_score > 0 else None
    for name, ref in reference.items():
        role = roles.get(name, "raw")
        if name not in actual:
            missing = OutputCheck(name, role, list(np.shape(ref)), np.inf, np.inf, 0.0, 0.0, "presence")
            missing.ok, missing.problem = False, "missing in the model's outputs"
            rows.append(missing)
            continue
        layout, extra = (layouts or {}).get(name, "BNC"), (noise or {}).get(name, 0.0)
        rows.append(check_output(name, role, actual[name], ref, bounds, layout, extra, anchor_scores))
    return rows


def best_anchor_scores(
    outputs: Mapping[str, Any], roles: Mapping[str, str], layouts: Mapping[str, str]
) -> Optional[np.ndarray]:
    """Each anchor's best class probability ``(B, N)`` from a ``best_scores`` or ``scores``
    output of ``outputs``; None where there is neither."""
    for name, value in outputs.items():
        if roles.get(name) == "best_scores":
            return as_array(value)
    for name, value in outputs.items():
        if roles.get(name) == "scores":
            return _channels_last(as_array(value), layouts.get(name, "BNC")).max(-1)
    return None


def merge(rows: Sequence[Sequence[OutputCheck]]) -> List[OutputCheck]:
    """The worst row per output over several inputs (first failure kept)."""
    worst: Dict[str, OutputCheck] = {}
    for image_rows in rows:
        for row in image_rows:
            old = worst.get(row.name)
            if old is None or (old.ok and not row.ok):
                worst[row.name] = row
                continue
            if not old.ok:
                continue
            old.max_abs, old.max_rel = max(old.max_abs, row.max_abs), max(old.max_rel, row.max_rel)
            old.cosine, old.snr_db = min(old.cosine, row.cosine), min(old.snr_db, row.snr_db)
            if row.worst is not None:
                old.worst = max(old.worst or 0.0, row.worst)
    return list(worst.values())
