"""Conversion checks: raw outputs (equivalence) and final detections (match rate by IoU)."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

import numpy as np

from edgekit.decoding.detections import Detections


def _ordered(boxes: np.ndarray) -> np.ndarray:
    """Corners sorted per axis (untrained heads may emit x2 < x1; they still must match)."""
    return np.concatenate([np.minimum(boxes[:, :2], boxes[:, 2:]), np.maximum(boxes[:, :2], boxes[:, 2:])], 1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) xyxy -> (N, M) IoU."""
    a, b = _ordered(a), _ordered(b)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match_detections(reference: Detections, actual: Detections, iou: float = 0.5) -> Dict[str, Any]:
    """Greedy one-to-one matching (same class, IoU >= ``iou``), best reference score first.

    Returns counts, the match rate (matched / max(len(reference), len(actual))) and the largest
    box-corner deviation in pixels among matched pairs.
    """
    n_ref, n_act = len(reference), len(actual)
    if n_ref == 0 or n_act == 0:
        rate = 1.0 if n_ref == n_act else 0.0
        return {"reference": n_ref, "actual": n_act, "matched": 0, "match_rate": rate, "max_box_px": 0.0}
    ious = box_iou(reference.xyxy, actual.xyxy)
    ious[reference.class_id[:, None] != actual.class_id[None, :]] = 0.0
    used = np.zeros(n_act, dtype=bool)
    deviations: List[float] = []
    for i in np.argsort(-reference.confidence, kind="stable"):
        candidates = np.where(~used & (ious[i] >= iou))[0]
        if len(candidates) == 0:
            continue
        deviation = np.abs(actual.xyxy[candidates] - reference.xyxy[i]).max(1)
        j = candidates[np.argmin(deviation)]  # the closest box: duplicates must not inflate the figure
        used[j] = True
        deviations.append(float(deviation.min()))
    matched = len(deviations)
    return {
        "reference": n_ref,
        "actual": n_act,
        "matched": matched,
        "match_rate": matched / max(n_ref, n_act),
        "max_box_px": max(deviations) if deviations else 0.0,
    }


def summarize_matches(per_image: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Aggregate per-image match records (the manifest's ``verification.detections``)."""
    ref = sum(r["reference"] for r in per_image)
    act = sum(r["actual"] for r in per_image)
    matched = sum(r["matched"] for r in per_image)
    return {
        "images": len(per_image),
        "reference": ref,
        "actual": act,
        "matched": matched,
        "min_matched_per_image": min((r["matched"] for r in per_image), default=0),
        "match_rate": matched / max(ref, act) if max(ref, act) else 1.0,
        "max_box_px": max((r["max_box_px"] for r in per_image), default=0.0),
    }
