"""A bundle as a user meets it after copying it around: integrity, missing models, a Jetson bundle on
a host without TensorRT. Real conversions, the real CLI in a subprocess."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path
from typing import Dict

import numpy as np
import pytest

pytest.importorskip("torch")  # bundles converted here (the device suite runs without torch)

from edgekit.bundle.integrity import cache_path, check_files
from edgekit.bundle.io import read_bundle
from edgekit.detector import Detector
from edgekit.errors import ManifestError
from edgekit.models.loader import load_checkpoint

from ..conftest import need
from ..converters.helpers import convert_quietly
from .helpers import one_line_error, run_cli

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fixtures"
IMGSZ = (160, 160)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    need("onnxruntime")
    need("openvino")
    root = tmp_path_factory.mktemp("bundles")
    loaded = load_checkpoint(FIXTURES / "yolo11-shapes.pt")
    return {
        "cpu": convert_quietly(loaded, root / "cpu.edgekit", "x86-avx2", IMGSZ),
        "jetson": convert_quietly(loaded, root / "jetson.edgekit", "jetson", IMGSZ),
    }


@pytest.fixture
def copy(bundles: Dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EDGEKIT_CACHE_DIR", str(tmp_path / "cache"))

    def make(kind: str) -> Path:
        dest = tmp_path / f"{kind}.edgekit"
        shutil.copytree(bundles[kind], dest)
        return dest

    return make


@pytest.fixture
def image(tmp_path: Path) -> Path:
    cv2 = need("cv2")
    path = tmp_path / "frame.png"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8))
    return path


def _overwrite(path: Path, offset: int, count: int) -> None:
    """Overwrite ``count`` bytes in place: same size, other bytes (mtime moves, as with a bad copy)."""
    with open(path, "r+b") as f:
        f.seek(offset)
        data = bytearray(f.read(count))
        f.seek(offset)
        f.write(bytes(b ^ 0x5A for b in data))


def test_show_checks_every_sha256(copy, image: Path) -> None:
    bundle = copy("cpu")
    ok = run_cli("show", str(bundle))
    assert ok.returncode == 0, ok.stderr
    files = sum(1 + len(a.files) for a in read_bundle(bundle).manifest.artifacts)
    assert f"all {files} model files match the manifest" in ok.stdout
    weights = bundle / "model.bin"
    _overwrite(weights, 0, min(1 << 20, weights.stat().st_size // 2))
    line = one_line_error(run_cli("show", str(bundle)), str(weights), "does not match the sha256")
    assert "copy the bundle again or reconvert" in line
    assert run_cli("show", str(bundle), "--no-verify").returncode == 0
    line = one_line_error(run_cli("predict", str(bundle), str(image), "--backend", "openvino"), "model.bin")


def test_a_100_byte_corruption_is_caught_at_load(copy, image: Path) -> None:
    bundle = copy("cpu")
    art = read_bundle(bundle).manifest.artifact("onnxruntime")
    model = bundle / art.path
    _overwrite(model, model.stat().st_size // 2, 100)
    one_line_error(
        run_cli("predict", str(bundle), str(image), "--backend", "onnxruntime"), str(model), "sha256"
    )
    with pytest.raises(ManifestError, match="does not match the sha256"):
        Detector(bundle, backend="onnxruntime")


def test_verified_files_are_remembered_by_size_and_mtime(copy) -> None:
    bundle = copy("cpu")
    arts = read_bundle(bundle).manifest.artifacts
    assert check_files(bundle, arts, use_cache=True) == sum(1 + len(a.files) for a in arts)
    assert check_files(bundle, arts, use_cache=True) == 0  # a second start hashes nothing
    assert json.loads(cache_path().read_text())  # the cache went where EDGEKIT_CACHE_DIR says
    weights = bundle / "model.bin"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert check_files(bundle, arts, use_cache=True) == 1  # touched: hashed again
    _overwrite(weights, 0, 100)
    with pytest.raises(ManifestError, match=r"model\.bin"):
        check_files(bundle, arts, use_cache=True)
    with pytest.raises(ManifestError, match=r"model\.bin"):  # a failure is not remembered as good
        check_files(bundle, arts, use_cache=True)
    with Detector(bundle, backend="onnxruntime") as det:  # the onnxruntime model is intact
        assert det.backend == "onnxruntime"


def test_verify_false_opts_out(copy) -> None:
    bundle = copy("cpu")
    weights = bundle / "model.bin"
    _overwrite(weights, weights.stat().st_size - 64, 16)  # the last weights: the model still loads
    with pytest.raises(ManifestError):
        Detector(bundle, backend="openvino")
    with Detector(bundle, backend="openvino", verify=False) as det:
        assert det.backend == "openvino"


def test_a_backend_the_bundle_lacks_is_one_line(copy, image: Path) -> None:
    bundle = copy("cpu")
    line = one_line_error(
        run_cli("predict", str(bundle), str(image), "--backend", "tflite"), "no tflite model"
    )
    assert "it has: " in line and "--backend" in line and "Traceback" not in line


def test_a_jetson_bundle_runs_its_onnx_in_onnxruntime_when_asked(copy, image: Path) -> None:
    bundle = copy("jetson")
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed: this checks a host without it")
    line = one_line_error(run_cli("predict", str(bundle), str(image)), "TensorRT", "--backend onnxruntime")
    assert "pip install" not in line  # no extra to install brings TensorRT to this host
    proc = run_cli("predict", str(bundle), str(image), "--backend", "onnxruntime")
    assert proc.returncode == 0, proc.stderr
    assert "note: running the TensorRT model's ONNX (model.onnx, fp32) in onnxruntime" in proc.stderr
    assert proc.stdout.startswith(f"{image}: ")


@pytest.mark.parametrize(
    "option, value, known",
    [
        ("--precisions", "bf15", "fp32, fp16, bf16, int8"),
        ("--backends", "onnxruntime,ncnn", "tensorrt, openvino"),
    ],
)
def test_benchmark_refuses_names_outside_the_vocabulary(copy, option: str, value: str, known: str) -> None:
    proc = run_cli("benchmark", str(copy("cpu")), option, value)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    unknown = value.split(",")[-1]
    assert f"Error: Invalid value for {option}: {unknown} is not one of {known}" in proc.stderr
