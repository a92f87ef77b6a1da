from __future__ import annotations

import numpy as np
import pytest

from edgekit.decoding import nms


def random_boxes(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 500, (n, 2)).astype(np.float32)
    wh = rng.uniform(10, 120, (n, 2)).astype(np.float32)
    return np.concatenate([xy, xy + wh], 1), rng.random(n).astype(np.float32), rng.integers(0, 5, n)


def test_hand_checkable_case() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    classes = np.array([0, 0, 0, 1])
    keep = nms.batched_nms(boxes, scores, classes, iou=0.5)
    assert keep.tolist() == [0, 2, 3]  # box 1 overlaps box 0 (IoU 0.82); box 3 is another class
    assert nms.batched_nms(boxes, scores, classes, iou=0.5, agnostic=True).tolist() == [0, 2]


@pytest.mark.parametrize("agnostic", [False, True])
def test_numpy_fallback_equals_opencv(agnostic: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if nms._CV2 is None:
        pytest.skip("OpenCV is not installed: nothing to compare against")
    boxes, scores, classes = random_boxes(400)
    with_cv2 = nms.batched_nms(boxes, scores, classes, 0.45, agnostic)
    monkeypatch.setattr(nms, "_CV2", None)  # the real fallback path, on the same data
    without = nms.batched_nms(boxes, scores, classes, 0.45, agnostic)
    assert sorted(with_cv2.tolist()) == sorted(without.tolist())
    assert len(with_cv2) > 50


def test_max_det_and_empty() -> None:
    boxes, scores, classes = random_boxes(100, seed=1)
    assert len(nms.batched_nms(boxes, scores, classes, 0.9, max_det=7)) == 7
    assert nms.batched_nms(boxes[:0], scores[:0], classes[:0], 0.5).shape == (0,)
