"""Tied candidates (an untrained model's score plateau) are compared by their sorted scores.

Official-init untrained models (yolov8m, yolov10n, yolo26n, yolov9-t, DAMO-YOLO Ns) give every
anchor nearly the same score: the top-100 spread (1.9e-7..1.1e-5) is below the FP32 score bound,
so no candidate clears the cut and rank matching has nothing to require. The plateau itself must
still agree: a valid model passes, a model whose scores moved (a missing sigmoid, a shifted bias)
fails. Measured on the variant sweep: docs/measurements/2026-12-07-variant-sweep.md.
"""

from __future__ import annotations

import numpy as np

from edgekit.verify import FP32, INT8, Dets, match, summarize
from edgekit.verify.tensors import check_output


def _plateau(seed: int, n: int = 100, level: float = 9.8e-6, spread: float = 4e-7) -> Dets:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 600, (n, 2))
    boxes = np.concatenate((xy, xy + 16), 1)
    scores = level + rng.uniform(0, spread, n)
    return Dets(boxes, scores, rng.integers(0, 80, n), None)


def _summary(ref: Dets, act: Dets, bounds=FP32):  # type: ignore[no-untyped-def]
    cut_ref, cut_act = float(ref.scores.min()), float(act.scores.min())
    return summarize([match(ref, act, bounds, cut_ref, cut_act)], bounds, "candidates")


def test_a_tied_plateau_with_the_same_levels_passes_and_says_so() -> None:
    ref = _plateau(0)
    act = _plateau(1)  # other anchors ranked first, same score level: a valid conversion
    act = Dets(act.xyxy, np.sort(ref.scores) + 3e-8, act.classes, None)
    s = _summary(ref, act)
    assert s["required"] == 0 and s["tied"] and s["ok"] and s["score_levels_worst"] < 0.1, s


def test_a_plateau_whose_scores_moved_fails() -> None:
    ref = _plateau(0)
    shifted = Dets(ref.xyxy, ref.scores * 1.5, ref.classes, None)  # a class bias off by log(1.5)
    s = _summary(ref, shifted)
    assert s["tied"] and not s["ok"] and s["score_levels_worst"] > 1, s
    logits = Dets(ref.xyxy, np.log(ref.scores / (1 - ref.scores)), ref.classes, None)  # no sigmoid
    assert not _summary(ref, logits)["ok"]


def test_top_k_rows_on_a_plateau_through_check_output() -> None:
    ref, act = _plateau(0), _plateau(2)
    rows = lambda d: np.concatenate((d.xyxy, d.scores[:, None], d.classes[:, None]), 1)[None]  # noqa: E731
    good = check_output(
        "detections", "detections", rows(Dets(act.xyxy, ref.scores, act.classes, None)), rows(ref), FP32
    )
    assert good.ok and good.bound.startswith("rows tied on a score plateau"), good
    bad = check_output(
        "detections",
        "detections",
        rows(Dets(ref.xyxy, ref.scores + 5e-6, ref.classes, None)),
        rows(ref),
        FP32,
    )
    assert not bad.ok and "tied scores at" in bad.problem, bad


def test_without_a_score_bound_int8_gets_no_plateau_verdict() -> None:
    ref = _plateau(0)
    s = _summary(ref, ref, INT8)
    assert "tied" not in s
