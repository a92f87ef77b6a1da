"""Jetson bundles made without TensorRT: parser op/opset table, build plan, trtexec line, engine keys,
symmetric Q/DQ INT8 checked in onnxruntime. (Building and running engines needs a Jetson.)"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from edgekit.converters.tensorrt import (
    check_onnx_for_tensorrt,
    ops_table,
    table_for,
    trtexec_command,
    unsupported_nodes,
)
from edgekit.devices import resolve_plan
from edgekit.errors import ConversionError, UnsupportedTargetError
from edgekit.runtimes.trt_engine import engine_key

from ..cli.helpers import one_line_error, run_cli
from ..conftest import need
from .helpers import verified

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "ultralytics"
TINY = GOLDEN / "yolo11_tiny.pt"


@pytest.fixture(scope="module")
def onnx():
    return need("onnx")


def tiny_model(onnx, op: str = "Relu", opset: int = 17):
    from onnx import TensorProto, helper

    node = helper.make_node(op, ["x"], ["y"], name=f"/model/{op.lower()}_0")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_table_covers_the_jetpack_releases() -> None:
    versions = ops_table()["versions"]
    for release in ("8.5", "10.1"):
        assert release in versions, sorted(versions)
        entry = versions[release]
        assert {"Conv", "Sigmoid", "Concat", "QuantizeLinear", "DequantizeLinear"} <= set(entry["supported"])
        assert entry["max_opset"] >= 17 and entry["url"].startswith("https://github.com/onnx/onnx-tensorrt")
    # no stored doc at 10.3's parser commit: JetPack 6 is checked against 10.1's (older, stricter) table
    assert table_for("10.3.0")[0] == "10.1"
    assert table_for("10.13")[0] == "10.8" and table_for("8.5.2")[0] == "8.5"


def test_an_unsupported_op_is_refused_naming_the_node(onnx) -> None:
    supported = set(table_for("10.3")[1]["supported"])
    op = next(
        o for o in ("StringNormalizer", "TfIdfVectorizer", "Unique", "Multinomial") if o not in supported
    )
    with pytest.raises(ConversionError, match=f"node /model/{op.lower()}_0 uses {op}"):
        check_onnx_for_tensorrt(tiny_model(onnx, op), "10.3")
    assert unsupported_nodes(tiny_model(onnx, op), "10.3") == [f"/model/{op.lower()}_0 ({op})"]
    assert check_onnx_for_tensorrt(tiny_model(onnx), "10.3")["ops_checked"] == 1


def test_an_opset_newer_than_the_parser_is_refused(onnx) -> None:
    top = int(table_for("8.5")[1]["max_opset"])
    with pytest.raises(ConversionError, match=f"pass --opset {top}"):
        check_onnx_for_tensorrt(tiny_model(onnx, opset=top + 1), "8.5")


def test_trtexec_line_follows_the_plan() -> None:
    plan = resolve_plan("jetson-orin-nano", precision="int8", jetpack="6.2")
    line = trtexec_command(plan, "model.int8.onnx")
    assert line.startswith("trtexec --onnx=model.int8.onnx --saveEngine=model.engine --int8 --fp16")
    assert "--memPoolSize=workspace:" in line and "--timingCacheFile=" in line
    dla = trtexec_command(resolve_plan("jetson-agx-orin", precision="fp16", dla_core=0), "model.onnx")
    assert "--useDLACore=0 --allowGPUFallback" in dla


def test_engine_key_changes_with_everything_an_engine_is_tied_to() -> None:
    base = dict(
        tensorrt="10.3",
        gpu="Orin (nvgpu)",
        compute_capability=(8, 7),
        dla_core=None,
        precision="fp16",
        onnx_sha256="ab" * 32,
    )
    key = engine_key(**base)
    assert key == "trt10.3-sm87-orin--nvgpu-gpu-fp16-abababababab"
    changes = dict(
        tensorrt="8.5",
        gpu="Xavier",
        compute_capability=(7, 2),
        dla_core=1,
        precision="int8",
        onnx_sha256="cd" * 32,
    )
    for field, value in changes.items():
        assert engine_key(**{**base, field: value}) != key, field


def test_jetson_nano_int8_is_refused() -> None:
    with pytest.raises(UnsupportedTargetError, match="int8"):
        resolve_plan("jetson-nano", precision="int8")
    proc = run_cli("convert", str(TINY), "--target", "jetson-nano", "--int8", "--calib", "x")
    one_line_error(proc, "jetson-nano")


def test_jetson_fp16_bundle_carries_the_onnx_and_the_build_plan(tmp_path: Path) -> None:
    need("torch")
    need("onnxruntime")
    from edgekit import convert

    bundle = convert(TINY, target="jetson", imgsz=96, output=tmp_path / "j.edgekit", measure=False)
    manifest = json.loads((bundle / "manifest.json").read_text())
    (art,) = manifest["artifacts"]
    assert art["backend"] == "tensorrt" and art["precision"] == "fp16" and art["path"] == "model.onnx"
    build = manifest["build"]
    assert build["onnx"] == "model.onnx" and build["trtexec"].startswith("trtexec --onnx=model.onnx")
    assert build["tensorrt"] == manifest["target"]["tensorrt"]
    # the ONNX TensorRT will parse was run here in onnxruntime and matched PyTorch
    figures = verified(manifest, ["tensorrt"])["tensorrt"]
    assert figures["bounds"] == "fp32"  # the ONNX it parses is FP32; the engine's precision is on-board


def test_jetson_int8_is_symmetric_qdq_checked_in_onnxruntime(tmp_path: Path) -> None:
    need("torch")
    need("onnxruntime")
    onnx = need("onnx")
    from onnx import numpy_helper

    from edgekit import convert
    from edgekit.testing import generate

    data = generate(tmp_path / "shapes", 16, 0, 0, seed=4, imgsz=128)
    bundle = convert(
        TINY,
        target="jetson",
        imgsz=96,
        precision="int8",
        calib=data.root / "images" / "train",
        calib_images=12,
        allow_small_calib=True,
        allow_accuracy_loss=True,  # untrained weights
        output=tmp_path / "j8.edgekit",
        measure=False,
    )
    manifest = json.loads((bundle / "manifest.json").read_text())
    (art,) = manifest["artifacts"]
    assert art["backend"] == "tensorrt" and art["precision"] == "int8" and art["path"] == "model.int8.onnx"
    assert manifest["build"]["onnx"] == "model.int8.onnx"
    g = onnx.load(str(bundle / art["path"])).graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    zps = [inits[n.input[2]] for n in g.node if n.op_type == "QuantizeLinear" and len(n.input) > 2]
    assert zps and all(z.dtype == np.int8 and not z.any() for z in zps)  # TensorRT: zero point 0
    report = manifest["verification"]["int8"]["backends"]["tensorrt"]
    assert report["quantizer"]["activation_symmetric"] is True and report["agreement"]["outputs"]
    check_onnx_for_tensorrt(onnx.load(str(bundle / art["path"])), manifest["target"]["tensorrt"])


def test_build_and_predict_without_tensorrt_name_what_to_install(tmp_path: Path) -> None:
    need("torch")
    need("onnxruntime")
    from edgekit import convert

    bundle = convert(TINY, target="jetson", imgsz=96, output=tmp_path / "j.edgekit", measure=False)
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed: this checks the message of machines without it")
    one_line_error(
        run_cli("build", str(bundle)), "tensorrt", 'pip install "edgekit-detect[tensorrt]"', "JetPack"
    )
    cv2 = need("cv2")
    cv2.imwrite(str(tmp_path / "frame.png"), np.zeros((48, 64, 3), np.uint8))
    proc = run_cli("predict", str(bundle), str(tmp_path / "frame.png"))
    one_line_error(proc, "not importable here", "JetPack", "pass --backend onnxruntime")  # not a pip line


def test_build_refuses_a_bundle_without_a_tensorrt_model(tmp_path: Path) -> None:
    from ..runtimes.tiny import write_tiny_bundle

    need("onnx")
    bundle = write_tiny_bundle(tmp_path / "t.edgekit")
    one_line_error(run_cli("build", str(bundle)), "no TensorRT model")


def test_an_engine_for_another_device_is_rebuilt_not_run(tmp_path: Path, monkeypatch) -> None:
    """Control flow only (a stand-in ``tensorrt`` module; no evidence that TensorRT works)."""
    import sys
    import types

    from edgekit.bundle import read_bundle
    from edgekit.errors import BackendError
    from edgekit.runtimes import trt_engine

    need("torch")
    need("onnxruntime")
    from edgekit import convert

    bundle = convert(TINY, target="jetson", imgsz=96, output=tmp_path / "j.edgekit", measure=False)
    b = read_bundle(bundle)
    art = b.manifest.artifacts[0]
    fake = types.ModuleType("tensorrt")
    fake.__version__ = "10.3.0"
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    device = {"gpu": "Orin (nvgpu)", "cc": (8, 7)}
    monkeypatch.setattr(
        trt_engine,
        "device_key",
        lambda trt, build, sha: trt_engine.engine_key(
            trt.__version__, device["gpu"], device["cc"], None, "fp16", sha
        ),
    )
    built = []

    def fake_build(onnx_path, build, dest, say=print, workspace_mib=None):
        built.append(Path(dest).name)
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        Path(dest).write_bytes(b"engine")
        return Path(dest)

    monkeypatch.setattr(trt_engine, "build_engine", fake_build)
    first = trt_engine.ensure_engine(b.root, b.manifest, art.path, art.sha256, say=lambda _m: None)
    again = trt_engine.ensure_engine(b.root, b.manifest, art.path, art.sha256, say=lambda _m: None)
    assert first == again and len(built) == 1  # the stored engine is reused
    fake.__version__ = "10.7.0"  # TensorRT upgraded on the board
    third = trt_engine.ensure_engine(b.root, b.manifest, art.path, art.sha256, say=lambda _m: None)
    assert third != first and len(built) == 2 and third.name.startswith("trt10.7.0-sm87")
    device["cc"] = (7, 2)  # the bundle copied to a Xavier
    with pytest.raises(BackendError, match=f"edgekit build {b.root}"):
        trt_engine.ensure_engine(b.root, b.manifest, art.path, art.sha256, allow_build=False)
    assert len(built) == 2


@pytest.mark.tensorrt
@pytest.mark.gpu
@pytest.mark.parametrize("cuda_graph", [False, True])
def test_engine_built_on_the_device_matches_onnxruntime(tmp_path: Path, cuda_graph: bool) -> None:
    """On a Jetson / GPU machine with TensorRT: build, reuse, run; FP16 detections match the ONNX's."""
    need("torch")
    need("onnxruntime")
    from edgekit import convert
    from edgekit.bundle import Bundle, read_bundle
    from edgekit.converters.int8 import single
    from edgekit.detector import Detector
    from edgekit.reparam.samples import synthetic_images

    from .helpers import strict_matches

    bundle = convert(TINY, target="jetson", imgsz=96, output=tmp_path / "j.edgekit", measure=False)
    proc = run_cli("build", str(bundle), timeout=1800)
    assert proc.returncode == 0 and "engine:" in proc.stdout, proc.stderr
    engines = list((bundle / "engines").glob("*.engine"))
    assert len(engines) == 1
    again = run_cli("build", str(bundle))
    assert again.returncode == 0 and "building" not in again.stdout  # the key matched: no rebuild
    b = read_bundle(bundle)
    reference = Bundle(b.root, single(b.manifest, b.manifest.artifacts[0]))
    with Detector(bundle, conf=0.05, build=False, cuda_graph=cuda_graph) as trt, Detector(
        reference, backend="onnxruntime", conf=0.05
    ) as ort:
        assert trt.backend == "tensorrt"
        for image in synthetic_images((120, 160), 3, seed=2):
            a, b2 = ort(image), trt(image)
            assert strict_matches(a, b2, px=2.0) >= 0.9 * len(a)  # FP16 engine
