"""``verify.fidelity``: mAP50-95 against the reference's confident detections, no labels needed.

Synthetic detections: the reference against itself scores 1.0; boxes moved within IoU 0.5 (which
the IoU-0.5 match check accepts) or scores re-ranked score lower; too few truth boxes give None.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.verify import INT8, Dets, match
from edgekit.verify.fidelity import MIN_TRUTH, TRUTH_CONF, fidelity, pseudo_truth

from ..conftest import need


def _reference(seed: int, n: int = 12) -> Dets:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 250, (n, 2))
    wh = rng.uniform(20, 60, (n, 2))
    scores = np.concatenate([rng.uniform(0.5, 0.95, n - 3), rng.uniform(0.01, 0.2, 3)])  # 3 below truth
    return Dets(np.concatenate([xy, xy + wh], 1), scores, rng.integers(0, 3, n))


REFS = [_reference(s) for s in range(4)]  # 36 truth boxes


def test_the_reference_against_itself_scores_one() -> None:
    need("faster_coco_eval")
    value, truth = fidelity([(r, r) for r in REFS], (320, 320))
    assert value == pytest.approx(1.0) and truth == sum(int((r.scores >= TRUTH_CONF).sum()) for r in REFS)


def test_boxes_moved_within_iou_half_pass_the_match_but_not_fidelity() -> None:
    need("faster_coco_eval")
    moved = []
    for r in REFS:  # every box shifted by 15 % of its width: IoU ~0.74
        shift = 0.15 * (r.xyxy[:, 2] - r.xyxy[:, 0])
        moved.append(Dets(r.xyxy + np.stack([shift, 0 * shift, shift, 0 * shift], 1), r.scores, r.classes))
    matched = [match(r, m, INT8, TRUTH_CONF) for r, m in zip(REFS, moved)]
    assert all(m["found"] == m["required"] > 0 for m in matched)  # the IoU-0.5 matcher finds every one
    value, _ = fidelity(list(zip(REFS, moved)), (320, 320))
    assert value is not None and value < 0.75


def test_low_scores_promoted_lower_it_and_classes_do_not_count() -> None:
    need("faster_coco_eval")
    pairs = []
    for r in REFS:  # FP32's three weak detections (no truth) scored 0.99: false positives ranked first
        promoted = np.where(r.scores < TRUTH_CONF, 0.99, r.scores)
        pairs.append((r, Dets(r.xyxy, promoted, r.classes)))
    value, _ = fidelity(pairs, (320, 320))
    assert value is not None and 0.5 < value < 0.9
    flipped = [(r, Dets(r.xyxy, r.scores, (r.classes + 1) % 3)) for r in REFS]
    assert fidelity(flipped, (320, 320))[0] == pytest.approx(1.0)  # classes: the IoU-0.5 matcher's


def test_too_few_truth_boxes_give_none() -> None:
    low = Dets(REFS[0].xyxy, np.full(len(REFS[0]), TRUTH_CONF / 2), REFS[0].classes)
    value, truth = fidelity([(low, low)] * 3, (320, 320))
    assert value is None and truth == 0 < MIN_TRUTH
    gt = pseudo_truth(REFS[:1], (320, 240))
    assert gt["images"][0]["height"] == 320 and [c["id"] for c in gt["categories"]] == [1]
    assert all(a["category_id"] == 1 and a["bbox"][2] > 0 for a in gt["annotations"])
