"""``edgekit convert --target jetson-agx-orin --jetpack 7.2 --int8 --dynamic --max-batch 8`` writes a
bundle whose build code passes the TensorRT 10.16 (JetPack 7.2) and 11.4 (pip) contracts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")  # converts a bundle first: the device suite runs without torch

from edgekit.bundle import Manifest
from edgekit.runtimes import trt_engine

from ..cli.helpers import run_cli
from ..conftest import need
from .trt_contract import CUDA_VERSIONS, TRT_VERSIONS, FakeEngine, called, cuda_standin, install, trt_standin

TINY = Path(__file__).resolve().parents[1] / "data" / "golden" / "ultralytics" / "yolo11_tiny.pt"
JETPACK_72 = [v for v in TRT_VERSIONS if v.startswith(("tensorrt-10.16", "tensorrt-11."))]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("torch")
    need("onnxruntime")
    from edgekit.testing import generate

    root = tmp_path_factory.mktemp("jp72")
    data = generate(root / "shapes", 16, 0, 0, seed=4, imgsz=128)
    out = root / "orin.edgekit"
    args = ["convert", str(TINY), "--target", "jetson-agx-orin", "--jetpack", "7.2", "--int8"]
    args += ["--calib", str(data.root / "images" / "train"), "--calib-images", "12", "--allow-small-calib"]
    args += ["--allow-accuracy-loss", "--dynamic", "--max-batch", "8", "--imgsz", "96", "-o", str(out)]
    proc = run_cli(*args, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_the_build_section_records_the_batch_range_and_one_line_per_tensorrt(bundle: Path) -> None:
    build = json.loads((bundle / "manifest.json").read_text())["build"]
    assert build["batch"] == {"min": 1, "opt": 8, "max": 8} and build["max_batch"] == 8
    lines = build["trtexec_by_tensorrt"]
    assert set(lines) == {"10.16", "11.4"}
    assert "--int8" in lines["10.16"] and "--int8" not in lines["11.4"] and "--fp16" not in lines["11.4"]
    for line in lines.values():
        assert f"--onnx={build['onnx']}" in line and "--maxShapes=images:8x3x96x96" in line


@pytest.mark.parametrize("version", JETPACK_72)
def test_the_bundle_builds_against_the_contract(bundle: Path, version: str, monkeypatch) -> None:
    onnx = need("onnx")
    manifest = json.loads((bundle / "manifest.json").read_text())
    build, (art,) = manifest["build"], manifest["artifacts"]
    dims = onnx.load(str(bundle / build["onnx"])).graph.input[0].type.tensor_type.shape.dim
    shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims)
    assert shape == (-1, 3, 96, 96)  # the Q/DQ ONNX keeps the dynamic batch
    trt = trt_standin(version, FakeEngine(inputs={"images": shape}))
    install(monkeypatch, trt, cuda_standin(CUDA_VERSIONS[-1]))
    monkeypatch.setattr(trt_engine, "device_key", lambda _t, b, sha: f"{version}-{b['precision']}-{sha[:8]}")
    path = trt_engine.ensure_engine(bundle, Manifest.from_dict(manifest), art["path"], art["sha256"], say=str)
    assert path.read_bytes() == b"engine"
    assert called(trt, "IOptimizationProfile.set_shape") == [
        ("images", (1, 3, 96, 96), (8, 3, 96, 96), (8, 3, 96, 96))
    ]
    flags = {args[0].name for args in called(trt, "IBuilderConfig.set_flag")}
    assert flags == (set() if version.startswith("tensorrt-11.") else {"FP16", "INT8"})


def test_a_jetpack_72_fp16_bundle_carries_the_fp16_onnx_tensorrt_11_builds_from(
    tmp_path: Path, monkeypatch
) -> None:
    need("torch")
    onnx = need("onnx")
    from edgekit import convert

    out = convert(
        TINY, target="jetson-agx-orin", jetpack="7.2", imgsz=96, output=tmp_path / "f.edgekit", measure=False
    )
    manifest = json.loads((out / "manifest.json").read_text())
    build, (art,) = manifest["build"], manifest["artifacts"]
    assert build["onnx_fp16"] == "model-fp16.onnx" and [f["path"] for f in art["files"]] == [
        "model-fp16.onnx"
    ]
    weights = onnx.load(str(out / "model-fp16.onnx")).graph.initializer
    assert any(w.data_type == onnx.TensorProto.FLOAT16 for w in weights)
    assert "--onnx=model-fp16.onnx" in build["trtexec_by_tensorrt"]["11.4"]
    trt = trt_standin(JETPACK_72[-1], FakeEngine(inputs={"images": (1, 3, 96, 96)}))
    install(monkeypatch, trt, cuda_standin(CUDA_VERSIONS[-1]))
    monkeypatch.setattr(trt_engine, "device_key", lambda _t, b, sha: f"k-{sha[:8]}")
    seen = []
    monkeypatch.setattr(trt_engine, "_parse", lambda _t, _n, _l, path: seen.append(Path(path).name))
    trt_engine.ensure_engine(out, Manifest.from_dict(manifest), art["path"], art["sha256"], say=str)
    assert seen == ["model-fp16.onnx"]


def test_max_batch_without_dynamic_is_one_line_error() -> None:
    from ..cli.helpers import one_line_error

    proc = run_cli("convert", str(TINY), "--target", "jetson-agx-orin", "--max-batch", "8")
    one_line_error(proc, "--max-batch 8 needs --dynamic")
