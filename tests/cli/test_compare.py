"""``edgekit compare``: real backends of one bundle, a checkpoint against its bundle, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ..conftest import need
from .helpers import one_line_error, run_cli

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "ultralytics"
CKPT = GOLDEN / "yolo11_tiny.pt"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for name in ("torch", "onnxruntime", "openvino", "onnxslim"):
        need(name)
    out = tmp_path_factory.mktemp("cmp") / "y11.edgekit"
    proc = run_cli("convert", str(CKPT), "--target", "rpi5", "--imgsz", "128x96", "-o", str(out), timeout=600)
    assert proc.returncode == 0, proc.stderr
    backends = {a["backend"] for a in json.loads((out / "manifest.json").read_text())["artifacts"]}
    assert {"openvino", "tflite"} <= backends, backends
    return out


@pytest.mark.parametrize(
    "a, b", [("onnxruntime", "openvino"), ("tflite", "openvino"), ("onnxruntime", "tflite")]
)
def test_backends_of_one_bundle_match(bundle: Path, a: str, b: str) -> None:
    backends = {x["backend"] for x in json.loads((bundle / "manifest.json").read_text())["artifacts"]}
    if a not in backends:
        pytest.skip(f"this plan has no {a} model")
    proc = run_cli("compare", f"{bundle}:{a}", f"{bundle}:{b}", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "boxes" in proc.stdout and "scores" in proc.stdout
    assert "all 2 outputs match" in proc.stdout or "outputs match" in proc.stdout.splitlines()[-1]
    # the decoded detections too, never vacuously: an untrained model's top-k candidates
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("detections "))
    found, required = (int(v) for v in line.split()[1].split("/"))
    assert found == required > 0 and line.endswith("ok (rate >= 0.99)"), line


def test_checkpoint_against_its_bundle(bundle: Path, tmp_path: Path) -> None:
    saved = tmp_path / "out.npz"
    proc = run_cli("compare", str(CKPT), f"{bundle}:openvino", "--save-outputs", str(saved), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "PyTorch (ultralytics" in proc.stdout
    data = np.load(saved)
    assert {k.split("/")[0] for k in data.files} == {"input", "A", "B"}
    # the same inputs back: the same figures
    again = run_cli("compare", str(CKPT), f"{bundle}:openvino", "--load-inputs", str(saved), timeout=300)
    assert again.returncode == 0 and again.stdout.splitlines()[3:-1] == proc.stdout.splitlines()[3:-2]


def test_exact_tolerance_fails_naming_the_output(bundle: Path) -> None:
    model = next(bundle.glob("*.xml"))
    proc = run_cli("compare", f"{bundle}:openvino", str(model), "--atol", "0", "--rtol", "0", timeout=300)
    assert proc.returncode == 0, proc.stderr  # the same IR, the same runtime: bitwise equal
    onnx_model = bundle / "model.onnx"
    if not onnx_model.exists():
        pytest.skip("no ONNX model in this bundle")
    proc = run_cli("compare", str(onnx_model), str(model), "--atol", "0", "--rtol", "0", timeout=300)
    one_line_error(proc, "output '", "differs")


def test_a_changed_weight_is_found(bundle: Path, tmp_path: Path) -> None:
    onnx = need("onnx")
    from onnx import numpy_helper

    model = onnx.load(str(bundle / "model.onnx"))
    weights = [i for i in model.graph.initializer if len(i.dims) == 4]
    w = weights[len(weights) // 2]
    w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w) * np.float32(1.05), w.name))
    changed = tmp_path / "model.onnx"
    onnx.save(model, str(changed))
    (tmp_path / "manifest.json").write_bytes((bundle / "manifest.json").read_bytes())  # roles beside it
    proc = run_cli("compare", str(changed), f"{bundle}:openvino", timeout=300)
    one_line_error(proc, "output '", "differs")
    assert "DIFFERS" in proc.stdout


def test_mark_compares_an_intermediate_tensor(bundle: Path) -> None:
    onnx = need("onnx")
    model = onnx.load(str(bundle / "model.onnx"))
    node = model.graph.node[len(model.graph.node) // 2].output[0]
    proc = run_cli(
        "compare", str(bundle / "model.onnx"), str(bundle / "model.onnx"), "--mark", node, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert node[:16] in proc.stdout


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    proc = run_cli("compare", str(tmp_path / "missing.onnx"), str(tmp_path / "x.xml"))
    one_line_error(proc, "missing.onnx", "no such file")
    (tmp_path / "notes.txt").write_text("hello")
    proc = run_cli("compare", str(tmp_path / "notes.txt"), str(tmp_path / "notes.txt"))
    one_line_error(proc, "notes.txt", "not a model edgekit compares")


def test_detections_decide_where_loose_tolerances_pass(tmp_path: Path) -> None:
    """Two different trained models with the same output names and shapes: elementwise bounds
    loosened until every tensor passes, the decoded detections still tell them apart."""
    need("onnxruntime")
    fixtures = GOLDEN.parents[1] / "fixtures"
    bundles = []
    for name in ("yolo11-shapes", "yolov9-shapes"):
        out = tmp_path / f"{name}.edgekit"
        args = ["--backend", "onnxruntime", "--no-host-io", "--imgsz", "160", "--no-verify", "-o", str(out)]
        proc = run_cli("convert", str(fixtures / f"{name}.pt"), *args, timeout=600)
        assert proc.returncode == 0, proc.stderr
        bundles.append(str(out))
    same = run_cli("compare", bundles[0], bundles[0], timeout=300)
    assert same.returncode == 0 and "and their detections" in same.stdout, same.stderr
    proc = run_cli("compare", *bundles, "--atol", "1e9", "--rtol", "1", timeout=300)
    assert "ok (" in proc.stdout and "DIFFERS" not in proc.stdout.split("detections ")[0]  # every tensor row
    one_line_error(proc, "decoded detections differ")
