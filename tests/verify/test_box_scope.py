"""Reduced-precision box bounds apply where a detection can come from (``Bounds.box_min_score``).

bf16 rounds a near-flat DFL distribution into whole bins: the boxes of anchors scoring ~0 move by
tens of pixels while every anchor a decoder could keep (>= 0.001) stays within 2.6 px (OpenVINO
bf16 on the trained fixtures, see edgekit/verify/bounds.py). The bound must ignore the first and
still catch a confident anchor's box that moved.
"""

from __future__ import annotations

import numpy as np

from edgekit.verify import BF16, FP32
from edgekit.verify.tensors import best_anchor_scores, check_outputs

ROLES = {"boxes": "boxes", "scores": "scores"}


def _outputs(layout: str = "BNC"):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 280, (1, 50, 2))
    boxes = np.concatenate((xy, xy + 32), -1).astype(np.float32)  # (1, 50, 4)
    scores = np.full((1, 50, 3), 1e-5, np.float32)
    scores[0, :5, 1] = 0.9  # five confident anchors, the rest near zero
    if layout == "BCN":
        return np.swapaxes(boxes, 1, 2).copy(), np.swapaxes(scores, 1, 2).copy()
    return boxes, scores


def _check(bounds, moved_anchor: int, shift: float, layout: str = "BNC"):  # type: ignore[no-untyped-def]
    boxes, scores = _outputs(layout)
    got = boxes.copy()
    if layout == "BCN":
        got[0, :, moved_anchor] += shift
    else:
        got[0, moved_anchor] += shift
    layouts = {"boxes": layout, "scores": layout}
    rows = check_outputs(
        {"boxes": got, "scores": scores}, {"boxes": boxes, "scores": scores}, ROLES, bounds, layouts
    )
    return rows[0]


def test_bf16_ignores_the_box_of_an_anchor_no_decoder_keeps() -> None:
    for layout in ("BNC", "BCN"):
        row = _check(BF16, moved_anchor=30, shift=40.0, layout=layout)
        assert row.ok and row.worst == 0.0, row
        assert "where score >= 0.001" in row.bound


def test_bf16_still_fails_a_confident_anchor_whose_box_moved() -> None:
    for layout in ("BNC", "BCN"):
        row = _check(BF16, moved_anchor=2, shift=40.0, layout=layout)
        assert not row.ok and "differs by" in row.problem, row


def test_fp32_bounds_every_anchor() -> None:
    row = _check(FP32, moved_anchor=30, shift=1.0)
    assert not row.ok, row


def test_anchor_scores_come_from_best_scores_or_the_class_scores() -> None:
    boxes, scores = _outputs("BCN")
    best = best_anchor_scores({"scores": scores}, ROLES, {"scores": "BCN"})
    assert best.shape == (1, 50) and np.allclose(best[0, :5], 0.9)
    own = best_anchor_scores({"best_scores": best * 0.5}, {"best_scores": "best_scores"}, {})
    assert np.allclose(own, best * 0.5)
    assert best_anchor_scores({"boxes": boxes}, ROLES, {}) is None
