"""OpenVINO IR artifacts: FP32 equal to onnxruntime and PyTorch, FP16 smaller and close."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

from edgekit.bundle import read_bundle
from edgekit.detector import Detector
from edgekit.devices.host import detect_host
from edgekit.errors import ManifestError, VerificationError
from edgekit.models.loader import load_checkpoint
from edgekit.reparam.samples import synthetic_images
from edgekit.verify import FP16, cosine_similarity

from ..conftest import need
from .helpers import GOLDEN, convert_quietly, detection_rows, strict_matches, verified

YOLO11 = GOLDEN / "ultralytics" / "yolo11_tiny.pt"
V9 = GOLDEN / "yolov9" / "tiny_v9t.pt"
IMGSZ = (96, 128)


@pytest.fixture(scope="module", autouse=True)
def backends() -> None:
    need("onnxruntime")
    need("onnxslim")
    need("openvino")


def convert(ckpt: Path, dest: Path, target: str = "x86-avx2", **options) -> Path:
    return convert_quietly(load_checkpoint(ckpt), dest, target, IMGSZ, **options)


@pytest.fixture(scope="module")
def yolo11_fp32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert(YOLO11, tmp_path_factory.mktemp("ov") / "y11.edgekit")


def backend_rows(bundle: Path, ckpt: Path, backend: str, conf: float = 0.05) -> List[Dict[str, int]]:
    """Per image: strict matches of ``backend``'s detections with the PyTorch reference (NMS IoU 0.99)."""
    return detection_rows(bundle, load_checkpoint(ckpt), backend, conf=conf)


def detections(bundle: Path, backend: str, **options) -> List:
    with Detector(bundle, backend=backend, conf=0.05, iou=0.99, max_det=3000, threads=1, **options) as det:
        return [det(image, color="RGB") for image in synthetic_images(IMGSZ, 3, seed=3)]


@pytest.mark.slow
@pytest.mark.parametrize("ckpt", [YOLO11, V9], ids=lambda p: p.stem)
def test_openvino_fp32_detections_equal_pytorch_and_onnxruntime(
    ckpt: Path, yolo11_fp32: Path, tmp_path: Path
) -> None:
    bundle = yolo11_fp32 if ckpt == YOLO11 else convert(ckpt, tmp_path / "b.edgekit")
    manifest = json.loads((bundle / "manifest.json").read_text())
    arts = {a["backend"]: a for a in manifest["artifacts"]}
    assert set(arts) == {"openvino", "onnxruntime"}
    assert arts["openvino"]["path"] == "model.xml" and arts["openvino"]["precision"] == "fp32"
    assert [f["path"] for f in arts["openvino"]["files"]] == ["model.bin"]
    figures = verified(manifest, ["openvino", "onnxruntime"])["openvino"]
    assert figures["precision"] == "fp32" and figures["bounds"] == "fp32"
    for backend in ("openvino", "onnxruntime"):
        for row in backend_rows(bundle, ckpt, backend):
            assert row["matched"] >= 20, (backend, row)
            assert row["matched"] >= 0.98 * max(row["reference"], row["actual"]), (backend, row)
    for ov_det, ort_det in zip(detections(bundle, "openvino"), detections(bundle, "onnxruntime")):
        assert len(ov_det) >= 20
        assert strict_matches(ort_det, ov_det) >= 0.98 * max(len(ov_det), len(ort_det))


def test_fp32_artifact_compiles_with_f32_hint(yolo11_fp32: Path) -> None:
    with Detector(yolo11_fp32, backend="openvino", threads=1) as det:
        assert det.runtime.get_property("INFERENCE_PRECISION_HINT") is not None
        assert det.runtime.precision_hint == "f32"
        assert str(det.runtime.get_property("PERFORMANCE_HINT")).upper().endswith("LATENCY")
        assert int(det.runtime.get_property("INFERENCE_NUM_THREADS")) == 1
    with Detector(yolo11_fp32, backend="openvino", precision="bf16") as det:  # an explicit opt-in only
        assert det.runtime.precision_hint == "bf16"


def test_bin_is_covered_by_the_manifest(yolo11_fp32: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy.edgekit"
    shutil.copytree(yolo11_fp32, copy)
    read_bundle(copy, verify_hashes=True)
    data = bytearray((copy / "model.bin").read_bytes())
    data[100] ^= 0xFF  # same size, different bytes
    (copy / "model.bin").write_bytes(bytes(data))
    with pytest.raises(ManifestError, match=r"model\.bin"):
        read_bundle(copy, verify_hashes=True)
    (copy / "model.bin").write_bytes(bytes(data[:-4]))
    with pytest.raises(ManifestError, match=r"model\.bin"):
        read_bundle(copy)


@pytest.mark.slow
def test_fp16_ir_is_smaller_and_close(yolo11_fp32: Path, tmp_path: Path) -> None:
    bundle = convert(YOLO11, tmp_path / "fp16.edgekit", target="rpi5", precision="fp16")
    manifest = json.loads((bundle / "manifest.json").read_text())
    arts = {a["backend"]: a for a in manifest["artifacts"]}  # rpi5 fp16: onnxruntime has no fp16 there
    assert set(arts) == {"openvino", "tflite"} and arts["openvino"]["precision"] == "fp16"
    fp16_bin = (bundle / "model.bin").stat().st_size
    fp32_bin = (yolo11_fp32 / "model.bin").stat().st_size
    assert fp16_bin < 0.6 * fp32_bin
    figures = verified(manifest, ["openvino"])["openvino"]
    assert figures["bounds"] == "fp16" and manifest["verification"]["bounds"]["fp16"] == FP16.to_dict()
    with Detector(bundle, backend="openvino", threads=1) as det16, Detector(
        yolo11_fp32, backend="openvino", threads=1
    ) as det32:
        assert det16.runtime.precision_hint == "f32"  # FP16 weights, FP32 arithmetic unless asked
        for image in synthetic_images(IMGSZ, 2, seed=5):
            x, _ = det32.preprocess(image, color="RGB")
            a, b = det16.runtime.infer(x.copy()), det32.runtime.infer(x.copy())
            for name in a:
                assert cosine_similarity(a[name], b[name]) >= FP16.min_cosine
                assert np.abs(a[name] - b[name]).max() > 0  # really different weights
    d16, d32 = detections(bundle, "openvino"), detections(yolo11_fp32, "openvino")
    for a, b in zip(d16, d32):
        assert strict_matches(b, a, px=2.0) >= 0.9 * max(len(a), len(b))


def test_bf16_plan_writes_the_fp32_ir_runs_it_in_bf16_and_verifies_it_with_the_bf16_bounds(
    tmp_path: Path,
) -> None:
    """``--precision bf16`` (x86 CPUs with AVX512_BF16 / AMX): the FP32 IR, recorded as bf16, opened
    with the bf16 hint by ``Detector`` and checked against PyTorch with the BF16 bounds."""
    trained = GOLDEN.parent / "fixtures" / "yolo11-shapes.pt"
    bundle = convert_quietly(
        load_checkpoint(trained), tmp_path / "bf16.edgekit", "x86-vnni", (160, 160), precision="bf16"
    )
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert [(a["backend"], a["precision"]) for a in manifest["artifacts"]] == [("openvino", "bf16")]
    figures = verified(manifest, ["openvino"])
    assert figures["openvino"]["bounds"] == "bf16" and "bf16" in manifest["verification"]["bounds"]
    assert manifest["target"]["backend_options"] == {"openvino": {"INFERENCE_PRECISION_HINT": "bf16"}}
    native = any(f in detect_host().cpu_flags for f in ("avx512_bf16", "amx_bf16"))
    with Detector(bundle) as det:  # the hint read back from the compiled model
        assert (
            det.runtime.precision_hint == "bf16" if native else det.runtime.precision_hint in ("bf16", "f32")
        )


def _strict_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """BF16 checked with the FP32 bounds: real bf16 arithmetic then fails its check."""
    import dataclasses

    from edgekit.converters import verify_bundle
    from edgekit.verify import FP32, bounds_for

    strict = dataclasses.replace(FP32, precision="bf16")
    monkeypatch.setattr(verify_bundle, "bounds_for", lambda p: strict if p == "bf16" else bounds_for(p))


@pytest.mark.skipif(not detect_host().has_bf16, reason="this CPU has no native bf16 (AVX512_BF16 / AMX)")
def test_cpu_defaults_to_bf16_and_falls_back_to_f32_where_its_check_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--target cpu`` without ``--precision`` on a bf16 CPU: OpenVINO bf16 (checked with the BF16
    bounds) beside onnxruntime FP32; where bf16 fails its check, OpenVINO computes in f32 and the
    manifest says why; an asked-for bf16 that fails is an error, as before."""
    loaded = load_checkpoint(GOLDEN.parent / "fixtures" / "yolo11-shapes.pt")

    def artifacts(bundle: Path) -> List:
        manifest = json.loads((bundle / "manifest.json").read_text())
        return [(a["backend"], a["precision"]) for a in manifest["artifacts"]], manifest

    arts, manifest = artifacts(convert_quietly(loaded, tmp_path / "auto.edgekit", "cpu", (160, 160)))
    assert arts == [("openvino", "bf16"), ("onnxruntime", "fp32")]
    assert verified(manifest)["openvino"]["bounds"] == "bf16"
    assert any("native bf16" in note for note in manifest["target"]["notes"])

    _strict_bf16(monkeypatch)
    bundle = convert_quietly(loaded, tmp_path / "fallback.edgekit", "cpu", (160, 160))
    arts, manifest = artifacts(bundle)
    assert arts == [("openvino", "fp32"), ("onnxruntime", "fp32")]
    assert manifest["target"]["precision"] == "fp32" and verified(manifest)["openvino"]["bounds"] == "fp32"
    assert "bf16 (this CPU's default) failed its check" in manifest["target"]["notes"][-1]
    with Detector(bundle, backend="openvino") as det:
        assert det.runtime.precision_hint == "f32"
    with pytest.raises(VerificationError, match="openvino bf16"):
        convert_quietly(loaded, tmp_path / "asked.edgekit", "cpu", (160, 160), precision="bf16")
