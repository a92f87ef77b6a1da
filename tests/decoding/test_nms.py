from __future__ import annotations

import numpy as np
import pytest

from edgekit.decoding import nms

from ..conftest import need


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


def greedy_reference(boxes, scores, classes, iou, agnostic):
    """Textbook greedy NMS, one class at a time (independent of the code under test)."""
    keep = []
    for c in [0] if agnostic else np.unique(classes):
        idx = np.arange(len(boxes)) if agnostic else np.flatnonzero(classes == c)
        keep.extend(idx[nms.nms_numpy(boxes[idx], scores[idx], iou)].tolist())
    return sorted(keep)


@pytest.mark.parametrize("agnostic", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_path_equals_greedy_nms(agnostic: bool, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    boxes, scores, classes = random_boxes(400, seed)
    expected = greedy_reference(boxes, scores, classes, 0.45, agnostic)
    assert len(expected) > 20
    default = nms.batched_nms(boxes, scores, classes, 0.45, agnostic)  # onnxruntime's kernel, if here
    assert sorted(default.tolist()) == expected
    assert np.all(np.diff(scores[default]) <= 0), "kept boxes come best first"
    monkeypatch.setattr(nms, "USE_ORT", False)
    cluster = nms.batched_nms(boxes, scores, classes, 0.45, agnostic)
    assert sorted(cluster.tolist()) == expected
    monkeypatch.setattr(nms, "MAX_PAIRS", 10)  # force the OpenCV / numpy fallbacks
    if nms._CV2 is not None:
        assert sorted(nms.batched_nms(boxes, scores, classes, 0.45, agnostic).tolist()) == expected
    monkeypatch.setattr(nms, "_CV2", None)
    assert sorted(nms.batched_nms(boxes, scores, classes, 0.45, agnostic).tolist()) == expected


def test_long_suppression_chain_is_exact() -> None:
    """A chain a > b > c where b suppresses c only if b survives: greedy keeps a and c."""
    boxes = np.array([[0, 0, 10, 10], [6, 0, 16, 10], [12, 0, 22, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    keep = nms.batched_nms(boxes, scores, np.zeros(3, np.int64), iou=0.2)
    assert keep.tolist() == [0, 2]


def test_max_det_and_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    boxes, scores, classes = random_boxes(100, seed=1)
    assert len(nms.batched_nms(boxes, scores, classes, 0.9, max_det=7)) == 7
    # the compiled kernel stops after max_det selections: the same first boxes as a full greedy run
    full = nms.batched_nms(boxes, scores, classes, 0.45)
    assert len(full) > 30
    assert nms.batched_nms(boxes, scores, classes, 0.45, max_det=30).tolist() == full[:30].tolist()
    monkeypatch.setattr(nms, "USE_ORT", False)
    assert nms.batched_nms(boxes, scores, classes, 0.45, max_det=30).tolist() == full[:30].tolist()
    assert nms.batched_nms(boxes[:0], scores[:0], classes[:0], 0.5).shape == (0,)


def test_onnxruntime_kernel_is_used_and_its_model_is_what_it_says() -> None:
    need("onnxruntime")
    onnx = need("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from edgekit.decoding import ort_nms

    assert ort_nms.ort_nms() is not None
    graph = helper.make_graph(
        [
            helper.make_node(
                "NonMaxSuppression", ["boxes", "scores", "max_per_class", "iou", "min_score"], ["selected"]
            )
        ],
        "edgekit_nms",
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, "n", 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, "n"]),
            helper.make_tensor_value_info("max_per_class", TensorProto.INT64, [1]),
            helper.make_tensor_value_info("iou", TensorProto.FLOAT, [1]),
        ],
        [helper.make_tensor_value_info("selected", TensorProto.INT64, ["k", 3])],
        [numpy_helper.from_array(np.array([-1.0], np.float32), "min_score")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], producer_name="edgekit")
    model.ir_version = 6
    assert model.SerializeToString() == ort_nms.MODEL
    onnx.checker.check_model(model)
