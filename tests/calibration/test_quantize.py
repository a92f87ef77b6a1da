"""INT8 quantizers: the float scope found from the graph, onnxruntime Q/DQ, NNCF, layer sensitivity."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import pytest

from edgekit.bundle import read_bundle
from edgekit.calibration import CalibrationData, CalibrationWarning
from edgekit.calibration.recipe import QuantRecipe
from edgekit.devices import resolve_plan
from edgekit.errors import ConversionError

from ..conftest import need

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "ultralytics"
IMGSZ = 96
U8S8 = QuantRecipe.resolve("onnxruntime", resolve_plan("x86-vnni", precision="int8").int8_for("onnxruntime"))
TRT = QuantRecipe.resolve("tensorrt", resolve_plan("jetson", precision="int8").int8_for("tensorrt"))


@pytest.fixture(scope="module", autouse=True)
def backends() -> None:
    need("onnxruntime")
    need("onnx")
    need("torch")


def fp32_bundle(tmp: Path, name: str, verify: bool = True) -> Path:
    from edgekit import convert

    return convert(
        GOLDEN / f"{name}.pt",
        target="x86-vnni",
        backend="onnxruntime",
        imgsz=IMGSZ,
        output=tmp / f"{name}.edgekit",
        measure=False,
        verify=verify,
        host_io=False,  # the quantizers' source: the float ONNX (an INT8 conversion quantizes that one)
    )


@pytest.fixture(scope="module")
def yolo11(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fp32_bundle(tmp_path_factory.mktemp("q"), "yolo11_tiny")


@pytest.fixture(scope="module")
def calib_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgekit.testing import generate

    root = tmp_path_factory.mktemp("shapes")
    generate(root, 12, 1, 1, seed=3, imgsz=128)
    return root / "images" / "train"


def data_for(bundle: Path, folder: Path, count: int = 12) -> CalibrationData:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        return CalibrationData(folder, read_bundle(bundle).manifest, count=count)


def graph(path: Path) -> Any:
    import onnx

    return onnx.load(str(path)).graph


def test_float_scope_holds_the_decode_tail_and_stops_at_the_head_convs(yolo11: Path) -> None:
    import onnx

    from edgekit.calibration.float_scope import head_float_scope

    model = onnx.load(str(yolo11 / "model.onnx"))
    scope = head_float_scope(model)
    ops = {n.name: n.op_type for n in model.graph.node}
    tail_ops = {ops[n] for n in scope.tail}
    assert {"Sigmoid", "Softmax", "MatMul", "Concat"} <= tail_ops  # MatMul: the DFL expectation
    assert len([n for n in scope.tail if ops[n] == "MatMul"]) == 1  # the DFL expectation, nothing else
    assert not [n for n in scope.tail if ops[n] == "Conv"]
    assert len(scope.head_convs) == 6  # 3 levels x (box branch, class branch)
    assert all(ops[n] == "Conv" for n in scope.head_convs)
    body = [n for n, op in ops.items() if op == "Conv" and n not in scope.tail and n not in scope.head_convs]
    assert body, "the body convolutions stay quantizable"
    assert set(scope.nodes(keep_last_conv=True)) == set(scope.tail) | set(scope.head_convs)
    # the head's branches: 3 levels x (box: 3 convs, class: 2 x (DWConv + Conv) + Conv), each SiLU's
    # Sigmoid and Mul with them; they start where the branches fork off the neck, so no neck node
    branch_convs = [n for n in scope.head_branches if ops[n] == "Conv"]
    assert len(branch_convs) == 24 and set(scope.head_convs) <= set(branch_convs)
    assert all("/model.23/" in n for n in scope.head_branches)  # Detect is module 23
    assert not set(scope.head_branches) & set(scope.tail)
    assert sum(ops[n] == "Sigmoid" for n in scope.head_branches) == 18


def test_float_scope_of_an_end_to_end_head(tmp_path: Path) -> None:
    import onnx

    from edgekit.calibration.float_scope import head_float_scope

    bundle = fp32_bundle(tmp_path, "yolo26_tiny", verify=False)  # the graph's structure is the subject
    model = onnx.load(str(bundle / "model.onnx"))
    scope = head_float_scope(model)
    ops = {n.name: n.op_type for n in model.graph.node}
    assert "TopK" in {ops[n] for n in scope.tail}
    assert scope.head_convs and all(ops[n] == "Conv" for n in scope.head_convs)


def test_keep_float_names_must_exist(yolo11: Path) -> None:
    import onnx

    from edgekit.calibration.float_scope import head_float_scope

    with pytest.raises(ConversionError, match="no node named /no/such"):
        head_float_scope(onnx.load(str(yolo11 / "model.onnx")), extra=["/no/such"])


def quantized(
    yolo11: Path, calib_dir: Path, tmp_path: Path, recipe: QuantRecipe, method: Optional[str] = None
):
    import onnx

    from edgekit.calibration.float_scope import head_float_scope
    from edgekit.calibration.quantize_ort import quantize_onnx

    scope = head_float_scope(onnx.load(str(yolo11 / "model.onnx")))
    dest = tmp_path / "int8.onnx"
    if method is not None:
        recipe = dataclasses.replace(recipe, method=method)
    ran = quantize_onnx(
        yolo11 / "model.onnx", dest, data_for(yolo11, calib_dir).onnxruntime_reader(), recipe, scope.nodes()
    )
    return dest, scope, ran


def run(path: Path, x: np.ndarray) -> Dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {"images": x})))


@pytest.mark.parametrize("method", ["minmax", "percentile"])
def test_onnxruntime_qdq_keeps_the_tail_float_and_stays_close(
    yolo11: Path, calib_dir: Path, tmp_path: Path, method: str
) -> None:
    from edgekit.verify import cosine_similarity

    dest, scope, recipe = quantized(yolo11, calib_dir, tmp_path, U8S8, method)
    g = graph(dest)
    assert recipe["method"] == method and recipe["activation_type"] == "uint8"
    # this untrained model's SiLU inputs reach about -1.2, inside every clip point (about -8): a range
    # already tight is left alone (the clipping itself: tests/calibration/test_silu_ranges.py)
    assert recipe["silu_ranges"] == {"tensors": 0, "median_step_gain": None}
    quant_inputs = {i for n in g.node if n.op_type == "QuantizeLinear" for i in n.input[:1]}
    assert sum(n.op_type == "QuantizeLinear" for n in g.node) > 10
    tail_outputs = {o for n in g.node if n.name in set(scope.tail) for o in n.output}
    assert not (quant_inputs & tail_outputs), "a decode node's output was quantized"
    assert {n.name for n in g.node} >= set(scope.tail)  # the tail is still there, in float
    x = next(iter(data_for(yolo11, calib_dir, 1)))
    a, b = run(yolo11 / "model.onnx", x), run(dest, x)
    assert cosine_similarity(a["boxes"], b["boxes"]) > 0.99


def test_tensorrt_scheme_has_symmetric_activations(yolo11: Path, calib_dir: Path, tmp_path: Path) -> None:
    from onnx import numpy_helper

    dest, _, recipe = quantized(yolo11, calib_dir, tmp_path, TRT)
    g = graph(dest)
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    zero_points = [inits[n.input[2]] for n in g.node if n.op_type == "QuantizeLinear" and len(n.input) > 2]
    assert recipe["activation_symmetric"] is True and zero_points
    assert recipe["method"] == "minmax"  # the scheme's default
    assert recipe["silu_ranges"]["tensors"] == 0  # no conv output is quantized before its SiLU
    assert all(zp.dtype == np.int8 and not zp.any() for zp in zero_points)
    # NVIDIA's placement: a tensor is quantized only where a weighted layer reads it (other readers
    # of that tensor share its Q/DQ pair); SiLU, Add and Concat outputs that feed none stay float
    from edgekit.calibration.quantize_ort import TENSORRT_OP_TYPES

    readers: Dict[str, set] = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, set()).add(n.op_type)
    dequantized = [n.output[0] for n in g.node if n.op_type == "DequantizeLinear" and n.input[0] not in inits]
    assert dequantized and all(readers[t] & set(TENSORRT_OP_TYPES) for t in dequantized)
    assert len(dequantized) < sum(n.op_type == "Conv" for n in g.node) + 10


def test_the_recipe_is_resolved_once_user_over_device_over_defaults() -> None:
    assert U8S8.method == "percentile" and TRT.method == "minmax"  # the scheme's default method
    assert (U8S8.activation_type, U8S8.activation_symmetric, TRT.activation_symmetric) == (
        "uint8",
        False,
        True,
    )
    avx2 = resolve_plan("x86-avx2", precision="int8")
    assert QuantRecipe.resolve("onnxruntime", avx2.int8_for("onnxruntime")).reduce_range is True
    assert QuantRecipe.resolve("openvino", avx2.int8_for("openvino")).overflow_fix == "enable"
    chosen = QuantRecipe.resolve(
        "onnxruntime",
        avx2.int8_for("onnxruntime"),
        method="entropy",
        bias_correction="none",
        silu_ranges=False,
    )
    assert (chosen.method, chosen.bias_correction, chosen.silu_ranges, chosen.reduce_range) == (
        "entropy",
        "none",
        False,
        True,
    )
    assert QuantRecipe.resolve("openvino").to_dict()["bias_correction"] == "full"
    assert QuantRecipe.resolve("openvino", preset="performance").preset == "performance"
    assert QuantRecipe.resolve("tflite").method == "minmax"  # the backend's own (Backend.calibration)
    with pytest.raises(dataclasses.FrozenInstanceError):
        chosen.method = "minmax"  # type: ignore[misc]


@pytest.mark.parametrize("field, value", [("method", "median"), ("bias_correction", "half"), ("preset", "x")])
def test_a_recipe_outside_the_vocabulary_is_refused(field: str, value: str) -> None:
    with pytest.raises(ConversionError, match=f"INT8 recipe: {field} '{value}' is not one of"):
        dataclasses.replace(U8S8, **{field: value})


def test_nncf_writes_an_int8_ir_that_runs(yolo11: Path, calib_dir: Path, tmp_path: Path) -> None:
    ov = need("openvino")
    need("nncf")
    import onnx

    from edgekit.calibration.float_scope import head_float_scope
    from edgekit.calibration.quantize_nncf import quantize_openvino

    scope = head_float_scope(onnx.load(str(yolo11 / "model.onnx")))
    xml, weights, recipe = quantize_openvino(
        yolo11 / "model.onnx",
        tmp_path,
        data_for(yolo11, calib_dir),
        QuantRecipe.resolve("openvino"),
        scope.nodes(),
    )
    model = ov.Core().read_model(str(tmp_path / xml))
    types = [op.get_type_name() for op in model.get_ordered_ops()]
    assert types.count("FakeQuantize") > 10 and (tmp_path / weights).is_file()
    assert recipe["float_nodes"] == len(scope.nodes())
    assert (recipe["preset"], recipe["method"], recipe["range_estimator"]) == ("mixed", "minmax", "MINMAX")
    assert recipe["bias_correction"] == "full"  # NNCF's fast one is the recipe's opt-in
    # no FakeQuantize right after a kept-float decode node
    tail = set(scope.tail)
    for op in model.get_ordered_ops():
        if op.get_type_name() == "FakeQuantize":
            producer = op.input_value(0).get_node()
            assert producer.get_friendly_name() not in tail
    compiled = ov.Core().compile_model(model, "CPU")
    x = next(iter(data_for(yolo11, calib_dir, 1)))
    assert np.isfinite(compiled(x)[compiled.output("boxes")]).all()


def test_nncf_range_estimator_follows_the_calibration_method(
    yolo11: Path, calib_dir: Path, tmp_path: Path
) -> None:
    need("openvino")
    need("nncf")
    from edgekit.calibration.quantize_nncf import quantize_openvino

    data = data_for(yolo11, calib_dir)
    recipe = QuantRecipe.resolve("openvino", method="entropy", bias_correction="fast")
    xml, _, recipe = quantize_openvino(
        yolo11 / "model.onnx", tmp_path, data, dataclasses.replace(recipe, preset="performance"), []
    )
    assert (recipe["preset"], recipe["range_estimator"], recipe["bias_correction"]) == (
        "performance",
        "HISTOGRAM",
        "fast",
    )
    assert (tmp_path / xml).is_file()


def test_layer_sensitivity_ranks_every_candidate(yolo11: Path, calib_dir: Path, tmp_path: Path) -> None:
    import onnx

    from edgekit.calibration.accuracy import layer_sensitivity
    from edgekit.calibration.float_scope import conv_nodes

    dest, scope, _ = quantized(yolo11, calib_dir, tmp_path, U8S8)
    candidates = [n for n in conv_nodes(onnx.load(str(yolo11 / "model.onnx"))) if n not in scope.tail]
    inputs = list(data_for(yolo11, calib_dir, 3))
    ranking = layer_sensitivity(yolo11 / "model.onnx", dest, inputs, candidates)
    assert sorted(n for n, _ in ranking) == sorted(candidates)
    losses = [loss for _, loss in ranking]
    assert losses == sorted(losses, reverse=True) and all(np.isfinite(losses))
    assert losses[0] > 0  # quantizing a layer loses signal


def test_bias_correction_removes_the_mean_shift_of_each_quantized_conv(
    yolo11: Path, calib_dir: Path, tmp_path: Path
) -> None:
    """onnxruntime's Q/DQ model moves each conv's output channel means; the correction shifts the
    biases so that a second measurement finds (almost) none left, and the model still runs."""
    import onnxruntime as ort

    from edgekit.calibration.bias_correction import correct_biases
    from edgekit.calibration.quantize_ort import quantize_onnx

    data = data_for(yolo11, calib_dir)
    dest = tmp_path / "q.onnx"
    off = dataclasses.replace(U8S8, bias_correction="none")
    recipe = quantize_onnx(yolo11 / "model.onnx", dest, data.onnxruntime_reader(), off, [])
    assert recipe["bias_correction"] is None
    inputs = list(data)[:6]
    before = dest.read_bytes()
    first = correct_biases(yolo11 / "model.onnx", dest, inputs)
    assert first["layers"] > 10 and first["mean_abs_shift"] > 0 and dest.read_bytes() != before
    second = correct_biases(yolo11 / "model.onnx", dest, inputs)
    assert second["layers"] == first["layers"]
    assert second["mean_abs_shift"] < 0.25 * first["mean_abs_shift"]  # what is left is the int32 rounding
    session = ort.InferenceSession(str(dest), providers=["CPUExecutionProvider"])
    out = session.run(None, {session.get_inputs()[0].name: inputs[0]})
    assert all(np.isfinite(o).all() for o in out)
    on = quantize_onnx(yolo11 / "model.onnx", tmp_path / "on.onnx", data.onnxruntime_reader(), U8S8, [])
    assert on["bias_correction"]["layers"] == first["layers"]  # on by default


def test_openvino_layer_sensitivity_ranks_every_candidate_on_the_nncf_model(
    yolo11: Path, calib_dir: Path, tmp_path: Path
) -> None:
    """The OpenVINO fallback ranks layers on NNCF's own IR: every candidate gets a finite loss, the
    ranking is worst first, and the worst layer loses signal."""
    need("openvino")
    need("nncf")
    import onnx

    from edgekit.calibration.accuracy import openvino_layer_sensitivity
    from edgekit.calibration.float_scope import conv_nodes, head_float_scope
    from edgekit.calibration.quantize_nncf import quantize_openvino

    source = onnx.load(str(yolo11 / "model.onnx"))
    scope = head_float_scope(source)
    data = data_for(yolo11, calib_dir)
    xml, _, _ = quantize_openvino(
        yolo11 / "model.onnx", tmp_path, data, QuantRecipe.resolve("openvino"), scope.nodes()
    )
    candidates = [n for n in conv_nodes(source) if n not in scope.nodes()]
    inputs = list(data_for(yolo11, calib_dir, 3))
    ranking = openvino_layer_sensitivity(yolo11 / "model.onnx", tmp_path / xml, inputs, candidates)
    assert sorted(n for n, _ in ranking) == sorted(candidates)
    losses = [loss for _, loss in ranking]
    assert losses == sorted(losses, reverse=True) and all(np.isfinite(losses))
    assert losses[0] > 0


def test_layer_sensitivity_reads_a_conv_whose_relu_the_quantizer_folded(
    calib_dir: Path, tmp_path: Path
) -> None:
    """DAMO-YOLO (ReLU): onnxruntime's quantizer drops each Relu after a Conv, so the Conv's own
    output tensor is gone from the Q/DQ model; the ranking reads the Relu's output instead."""
    import onnx

    from edgekit import convert
    from edgekit.calibration.accuracy import layer_sensitivity
    from edgekit.calibration.float_scope import conv_nodes

    fixture = Path(__file__).resolve().parents[1] / "data" / "fixtures" / "damoyolo-shapes.pt"
    damo = convert(
        fixture,
        target="x86-vnni",
        backend="onnxruntime",
        imgsz=IMGSZ,
        output=tmp_path / "damo.edgekit",
        measure=False,
        verify=False,
        host_io=False,
    )
    dest, scope, _ = quantized(damo, calib_dir, tmp_path, U8S8)
    source = onnx.load(str(damo / "model.onnx"))
    relu_fed = {n.input[0] for n in source.graph.node if n.op_type == "Relu"}
    folded = [n.name for n in source.graph.node if n.op_type == "Conv" and n.output[0] in relu_fed]
    qdq_tensors = {o for n in onnx.load(str(dest)).graph.node for o in n.output}
    gone = [n.output[0] for n in source.graph.node if n.name in folded and n.output[0] not in qdq_tensors]
    assert gone  # the situation this test is about
    candidates = [n for n in conv_nodes(source) if n not in scope.tail]
    ranking = layer_sensitivity(damo / "model.onnx", dest, list(data_for(damo, calib_dir, 3)), candidates)
    assert sorted(n for n, _ in ranking) == sorted(candidates)
    assert all(np.isfinite([loss for _, loss in ranking]))


def test_openvino_keeps_the_named_convolutions_float(yolo11: Path, calib_dir: Path, tmp_path: Path) -> None:
    """A biased ONNX Conv is Convolution ("<name>/WithoutBiases") + Add ("<name>") in OpenVINO:
    keeping the node float must reach the Convolution itself."""
    need("openvino")
    need("nncf")
    import onnx
    import openvino as ov

    from edgekit.calibration.float_scope import conv_nodes
    from edgekit.calibration.quantize_nncf import WITHOUT_BIASES, quantize_openvino

    convs = conv_nodes(onnx.load(str(yolo11 / "model.onnx")))
    kept, other = convs[:3], convs[3]
    xml, _, recipe = quantize_openvino(
        yolo11 / "model.onnx", tmp_path, data_for(yolo11, calib_dir), QuantRecipe.resolve("openvino"), kept
    )
    assert recipe["float_openvino_ops"] == 2 * len(kept)
    ops = {op.get_friendly_name(): op for op in ov.Core().read_model(str(tmp_path / xml)).get_ops()}

    def activation_source(name: str) -> str:
        return ops[name + WITHOUT_BIASES].input_value(0).get_node().get_type_name()

    assert all(activation_source(n) != "FakeQuantize" for n in kept)
    assert activation_source(other) == "FakeQuantize"


def test_dfl_expectation_is_recognized_in_either_form_and_nothing_else() -> None:
    """edgekit's DFL is a (1, bins) MatMul from the left; other exporters write a 1x1 Conv. A MatMul
    or Conv with learned weights is part of the network and stays quantizable."""
    import numpy as np
    from onnx import helper, numpy_helper

    from edgekit.calibration.float_scope import is_dfl_conv

    arange = np.arange(16, dtype=np.float32)
    inits = {
        "proj": numpy_helper.from_array(arange.reshape(1, 16), "proj"),
        "proj_col": numpy_helper.from_array(arange.reshape(16, 1), "proj_col"),
        "conv_w": numpy_helper.from_array(arange.reshape(1, 16, 1, 1), "conv_w"),
        "learned": numpy_helper.from_array(np.random.default_rng(0).random((1, 16), np.float32), "learned"),
        "square": numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(4, 4), "square"),
    }
    assert is_dfl_conv(helper.make_node("MatMul", ["proj", "prob"], ["d"]), inits)
    assert is_dfl_conv(helper.make_node("MatMul", ["prob", "proj_col"], ["d"]), inits)
    assert is_dfl_conv(helper.make_node("Conv", ["prob", "conv_w"], ["d"]), inits)
    assert not is_dfl_conv(helper.make_node("MatMul", ["learned", "prob"], ["d"]), inits)
    assert not is_dfl_conv(helper.make_node("MatMul", ["square", "prob"], ["d"]), inits)
    assert not is_dfl_conv(helper.make_node("Add", ["proj", "prob"], ["d"]), inits)
