"""SiLU-aware pre-activation ranges on a real onnxruntime Q/DQ model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ..conftest import need


def test_clip_point_moves_silu_by_half_a_step() -> None:
    from edgekit.calibration.silu_ranges import SILU_ARGMIN, clip_point, silu

    for step in (0.002, 0.02, 0.1):
        c = clip_point(step)
        assert c > SILU_ARGMIN and abs(abs(silu(-c)) - step / 2) < 1e-6
        assert abs(silu(-c - 5.0)) < step / 2  # everything further left is closer to zero still
    assert clip_point(1.0) == SILU_ARGMIN  # a step that coarse: clip at SiLU's minimum, no further


def _silu_model(path: Path) -> None:
    """Conv -> SiLU -> Conv, the first conv's channels biased far negative (pre-activations ~[-30, 8])."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = rng.normal(0, 0.5, (8, 4, 3, 3)).astype(np.float32)
    b1 = np.array([-20, -15, -10, -5, 0, 1, 2, 3], np.float32)
    w2 = rng.normal(0, 0.3, (4, 8, 1, 1)).astype(np.float32)
    b2 = np.zeros(4, np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["y"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Sigmoid", ["y"], ["s"], name="sig"),
        helper.make_node("Mul", ["y", "s"], ["z"], name="mul"),
        helper.make_node("Conv", ["z", "w2", "b2"], ["out"], name="conv2"),
    ]
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))]
    graph = helper.make_graph(
        nodes,
        "silu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 16, 16])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4, 16, 16])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _inputs(seed: int, n: int) -> list:
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 3, (1, 4, 16, 16)).astype(np.float32) for _ in range(n)]


def _range(model, tensor: str):  # type: ignore[no-untyped-def]
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    q = next(n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == tensor)
    scale, zero = float(inits[q.input[1]]), int(inits[q.input[2]])
    return (0 - zero) * scale, (255 - zero) * scale, scale


def test_silu_inputs_are_clipped_where_silu_is_flat_and_the_model_gets_closer(tmp_path: Path) -> None:
    need("onnxruntime")
    import onnx
    import onnxruntime as ort
    from onnxruntime import quantization as q

    from edgekit.calibration.adapters import OrtCalibrationReader
    from edgekit.calibration.silu_ranges import clip_point, tighten_silu_inputs

    fp32, qdq = tmp_path / "fp32.onnx", tmp_path / "qdq.onnx"
    _silu_model(fp32)

    class Samples(list):  # what OrtCalibrationReader reads: images and the input's name
        input_name = "x"

    q.quantize_static(
        str(fp32),
        str(qdq),
        OrtCalibrationReader(Samples(_inputs(1, 16))),
        quant_format=q.QuantFormat.QDQ,
        per_channel=True,
        activation_type=q.QuantType.QUInt8,
        weight_type=q.QuantType.QInt8,
        calibrate_method=q.CalibrationMethod.MinMax,
    )
    model = onnx.load(str(qdq))
    before = _range(model, "y")
    assert before[0] < -25  # the calibrated range spans the far negative channels
    report = tighten_silu_inputs(model)
    assert report["tensors"] == 1 and report["median_step_gain"] > 2
    after = _range(model, "y")
    step_out = _range(model, "z")[2]
    assert after[0] == pytest.approx(-clip_point(step_out), abs=after[2])
    assert after[1] == pytest.approx(before[1], abs=after[2])  # the positive end stays
    tight = tmp_path / "tight.onnx"
    onnx.save(model, str(tight))

    def error(path: Path) -> float:
        ref = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
        got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return float(
            np.mean(
                [
                    np.abs(ref.run(None, {"x": x})[0] - got.run(None, {"x": x})[0]).mean()
                    for x in _inputs(2, 8)
                ]
            )
        )

    assert error(tight) < 0.95 * error(qdq)  # input, SiLU-output and conv2 rounding stay as they were


def test_a_silu_whose_range_is_already_tight_is_left_alone(tmp_path: Path) -> None:
    need("onnxruntime")
    import onnx

    from edgekit.calibration.silu_ranges import tighten_silu_inputs

    _silu_model(tmp_path / "fp32.onnx")
    model = onnx.load(str(tmp_path / "fp32.onnx"))  # no Q/DQ at all: nothing to tighten
    assert tighten_silu_inputs(model) == {"tensors": 0, "median_step_gain": None}
