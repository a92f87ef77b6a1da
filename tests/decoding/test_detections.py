from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit.decoding import Detections


def sample() -> Detections:
    return Detections(
        np.array([[0, 0, 10, 10], [5, 5, 20, 20], [1, 2, 3, 4]]), [0.9, 0.3, 0.6], [1, 0, 1], ["cat", "dog"]
    )


def test_indexing_and_filtering() -> None:
    d = sample()
    assert len(d) == 3 and d.names == ["dog", "cat", "dog"]
    assert len(d[0]) == 1 and d[0].names == ["dog"]
    assert len(d[d.confidence > 0.5]) == 2
    assert d.filter(min_confidence=0.5, classes=["dog"]).confidence.tolist() == pytest.approx([0.9, 0.6])
    assert d.filter(classes=[0]).names == ["cat"]
    assert d.xyxy.dtype == np.float32 and d.class_id.dtype == np.int32


def test_json() -> None:
    rows = json.loads(sample().to_json())
    assert rows[0] == {"box": [0.0, 0.0, 10.0, 10.0], "confidence": 0.9, "class_id": 1, "class": "dog"}


def test_validation() -> None:
    with pytest.raises(ValueError, match="3 boxes"):
        Detections(np.zeros((3, 4)), [0.1], [0, 0, 0])
    with pytest.raises(ValueError, match="class_id"):
        Detections(np.zeros((1, 4)), [0.1], [5], ["a"])
    assert len(Detections.empty(["a"])) == 0


def test_task_arrays_follow_indexing_and_are_validated() -> None:
    masks = np.zeros((3, 8, 10), bool)
    masks[1, 2:4, 3:7] = True
    keypoints = np.arange(3 * 5 * 3, dtype=np.float32).reshape(3, 5, 3)
    xywhr = np.array([[5, 5, 4, 2, 0.1], [6, 6, 2, 2, 0.2], [1, 1, 1, 1, 0]], np.float32)
    det = Detections(
        np.zeros((3, 4)),
        [0.9, 0.8, 0.7],
        [0, 1, 0],
        ("a", "b"),
        masks=masks,
        keypoints=keypoints,
        xywhr=xywhr,
    )
    one = det[1]
    assert one.masks.shape == (1, 8, 10) and one.masks.sum() == 8
    assert one.keypoints[0, 0].tolist() == [15, 16, 17] and one.xywhr[0, 4] == np.float32(0.2)
    kept = det[det.confidence > 0.75]
    assert len(kept) == 2 and kept.masks.shape[0] == kept.keypoints.shape[0] == kept.xywhr.shape[0] == 2
    assert Detections.empty().masks is None
    with pytest.raises(ValueError, match=r"keypoints of shape \(2, 5, 3\)"):
        Detections(np.zeros((3, 4)), [1, 1, 1], [0, 0, 0], keypoints=keypoints[:2])
    with pytest.raises(ValueError, match="xywhr"):
        Detections(np.zeros((3, 4)), [1, 1, 1], [0, 0, 0], xywhr=xywhr[:, :4])


def test_masks_go_to_json_as_coco_rle_and_come_back() -> None:
    from edgekit.decoding.encode import mask_to_rle, rle_to_mask

    rng = np.random.default_rng(0)
    masks = rng.uniform(size=(4, 13, 17)) > 0.6
    masks[0] = True  # starts with ones
    masks[1] = False
    det = Detections(np.zeros((4, 4)), [1] * 4, [0] * 4, masks=masks)
    rows = det.to_dict()
    for row, mask in zip(rows, masks):
        assert row["mask"]["size"] == [13, 17] and sum(row["mask"]["counts"]) == 13 * 17
        assert np.array_equal(rle_to_mask(row["mask"]), mask)
    assert mask_to_rle(masks[0])["counts"][0] == 0
    mask_api = pytest.importorskip("faster_coco_eval.core.mask")  # the evaluator reads the same encoding
    encoded = mask_api.frPyObjects([rows[2]["mask"]], 13, 17)
    assert np.array_equal(mask_api.decode(encoded)[:, :, 0].astype(bool), masks[2])


def test_keypoints_and_rotated_boxes_go_to_json() -> None:
    det = Detections(
        np.zeros((1, 4)),
        [0.5],
        [0],
        keypoints=np.array([[[1.234, 2.0, 0.9]]], np.float32),
        xywhr=np.array([[1, 2, 3, 4, 0.5]], np.float32),
    )
    (row,) = det.to_dict()
    assert row["keypoints"] == [[1.23, 2.0, 0.9]] and row["xywhr"] == [1.0, 2.0, 3.0, 4.0, 0.5]
