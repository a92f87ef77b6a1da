"""``edgekit triton`` as a user runs it, on bundles converted here: the config parses with Triton's
own ModelConfig, names the backend and instance kind of the bundle's target, and declares exactly
the inputs and outputs of the model file it sits beside."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest

from ..bundle.test_triton import declared, model_config
from ..conftest import need
from .helpers import one_line_error, run_cli

pytestmark = pytest.mark.slow
TINY = Path(__file__).resolve().parents[1] / "data" / "golden" / "ultralytics" / "yolo11_tiny.pt"


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    need("torch")
    root = tmp_path_factory.mktemp("triton")
    out = {}
    for target in ("cpu", "jetson"):
        out[target] = root / f"tiny-{target}.edgekit"
        proc = run_cli(
            "convert", str(TINY), "--target", target, "--imgsz", "96", "-o", str(out[target]), timeout=300
        )
        assert proc.returncode == 0, proc.stderr
    return out


def _ort_io(path: Path) -> Dict[str, tuple]:
    ort = need("onnxruntime")
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    kinds = {"tensor(float)": "TYPE_FP32", "tensor(uint8)": "TYPE_UINT8", "tensor(int64)": "TYPE_INT64"}
    kinds["tensor(int32)"] = "TYPE_INT32"
    return {t.name: (kinds[t.type], list(t.shape)) for t in [*s.get_inputs(), *s.get_outputs()]}


def test_cpu_bundle_serves_onnxruntime_on_cpu(bundles: Dict[str, Path], tmp_path: Path) -> None:
    proc = run_cli("triton", str(bundles["cpu"]), "-o", str(tmp_path / "repo"))
    assert proc.returncode == 0, proc.stderr
    dest = tmp_path / "repo" / "tiny-cpu"
    assert proc.stdout.strip() == f'wrote {dest} (platform: "onnxruntime_onnx", KIND_CPU)'
    config = model_config(dest)
    assert (
        config.platform == "onnxruntime_onnx"
        and config.instance_group[0].kind == config.instance_group[0].KIND_CPU
    )
    # the bundle's onnxruntime model takes uint8 pixels and adds best_scores/best_classes: declared as such
    assert declared(config) == _ort_io(dest / "1" / "model.onnx")
    assert declared(config)["images"][0] == "TYPE_UINT8"
    assert sorted(p.name for p in (dest / "1").iterdir()) == ["model.onnx"]


def test_openvino_model_uses_tritons_openvino_backend(bundles: Dict[str, Path], tmp_path: Path) -> None:
    ov = need("openvino")
    proc = run_cli("triton", str(bundles["cpu"]), "-o", str(tmp_path / "repo"), "--backend", "openvino")
    assert proc.returncode == 0, proc.stderr
    dest = tmp_path / "repo" / "tiny-cpu"
    config = model_config(dest)
    assert config.backend == "openvino" and not config.platform
    assert config.instance_group[0].kind == config.instance_group[0].KIND_CPU
    assert sorted(p.name for p in (dest / "1").iterdir()) == ["model.bin", "model.xml"]
    model = ov.Core().read_model(str(dest / "1" / "model.xml"))  # Triton's default file names load
    types = {"f32": "TYPE_FP32", "u8": "TYPE_UINT8"}
    ov_io = {
        p.get_any_name(): (
            types[p.get_element_type().get_type_name()],
            [d.get_length() for d in p.get_partial_shape()],
        )
        for p in [*model.inputs, *model.outputs]
    }
    assert declared(config) == ov_io
    one = one_line_error(
        run_cli(
            "triton",
            str(bundles["cpu"]),
            "-o",
            str(tmp_path / "r2"),
            "--backend",
            "openvino",
            "--kind",
            "gpu",
        ),
        "OpenVINO backend runs on the CPU only",
    )
    assert one.startswith("error: ") and not (tmp_path / "r2").exists()


def test_jetson_bundle_serves_on_gpu_onnx_or_a_built_engine(bundles: Dict[str, Path], tmp_path: Path) -> None:
    proc = run_cli("triton", str(bundles["jetson"]), "-o", str(tmp_path / "repo"))
    assert proc.returncode == 0, proc.stderr
    dest = tmp_path / "repo" / "tiny-jetson"
    config = model_config(dest)
    assert (
        config.platform == "onnxruntime_onnx"
        and config.instance_group[0].kind == config.instance_group[0].KIND_GPU
    )
    assert declared(config) == _ort_io(dest / "1" / "model.onnx")
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"not parsed here: Triton's TensorRT backend loads it")
    proc = run_cli("triton", str(bundles["jetson"]), "-o", str(tmp_path / "repo"), "--engine", str(engine))
    assert proc.returncode == 0 and "tensorrt_plan" in proc.stdout and "KIND_GPU" in proc.stdout, proc.stderr
    config = model_config(dest)
    assert config.platform == "tensorrt_plan"
    assert sorted(p.name for p in (dest / "1").iterdir()) == ["model.plan"]
    assert (dest / "1" / "model.plan").read_bytes() == engine.read_bytes()


def test_bad_input_is_one_line_and_leaves_nothing(bundles: Dict[str, Path], tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    one_line_error(run_cli("triton", str(tmp_path / "nope.edgekit"), "-o", str(repo)), "nope.edgekit")
    one_line_error(
        run_cli("triton", str(bundles["jetson"]), "-o", str(repo), "--engine", str(tmp_path / "x.engine")),
        "x.engine",
        "no such engine file",
    )
    one_line_error(
        run_cli("triton", str(bundles["jetson"]), "-o", str(repo), "--backend", "openvino"),
        "no openvino model Triton can serve",
    )
    assert not repo.exists()
