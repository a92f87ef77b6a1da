"""The onnxruntime model's host interface: uint8 pixels in, each anchor's best score and class out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgekit.bundle.triton import export_triton
from edgekit.converters.engine import ConvertOptions, convert_loaded
from edgekit.detector import Detector
from edgekit.models.loader import load_checkpoint
from edgekit.reparam.samples import synthetic_images

from ..cli.helpers import run_cli
from ..conftest import need
from .helpers import GOLDEN, verified

YOLO11 = GOLDEN / "ultralytics" / "yolo11_tiny.pt"
IMGSZ = (96, 128)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """The same checkpoint converted with and without the host interface (onnxruntime only)."""
    need("onnxruntime")
    need("onnxslim")
    root = tmp_path_factory.mktemp("hostio")
    loaded = load_checkpoint(YOLO11)
    out = []
    for host in (True, False):
        opts = ConvertOptions(
            target="x86-avx2", imgsz=IMGSZ, measure=False, backend="onnxruntime", host_io=host
        )
        out.append(convert_loaded(loaded, root / f"{host}.edgekit", opts))
    return tuple(out)


def test_manifest_and_model_declare_the_same_interface(pair: tuple) -> None:
    ort = need("onnxruntime")
    host, plain = pair
    art = json.loads((host / "manifest.json").read_text())["artifacts"][0]
    pixels = {"scale": pytest.approx(1 / 255), "zero_point": 0}
    assert art["io"] == [{"name": "images", "dtype": "uint8", "quantization": pixels}]
    assert [(o["name"], o["role"], o["dtype"]) for o in art["extra_outputs"]] == [
        ("best_scores", "best_scores", "float32"),
        ("best_classes", "best_classes", "int64"),
    ]
    session = ort.InferenceSession(str(host / "model.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(uint8)"
    assert [o.name for o in session.get_outputs()] == ["boxes", "scores", "best_scores", "best_classes"]
    assert json.loads((plain / "manifest.json").read_text())["artifacts"][0].get("extra_outputs") == []
    with Detector(host) as det:
        assert det.manifest.input.dtype == "uint8"
        assert det.preprocess(np.zeros((40, 50, 3), np.uint8))[0].dtype == np.uint8


def test_outputs_equal_the_float_model_bit_for_bit(pair: tuple) -> None:
    host, plain = pair
    with Detector(host, threads=1) as a, Detector(plain, threads=1) as b:
        for image in synthetic_images(IMGSZ, 3, seed=4):
            pixels, _ = a.preprocess(image)
            x, _ = b.preprocess(image)
            assert np.array_equal(pixels.astype(np.float32) * np.float32(1 / 255), x)
            got, want = a.runtime.infer(pixels.copy()), b.runtime.infer(x.copy())
            np.testing.assert_allclose(got["scores"], want["scores"], rtol=0, atol=1e-6)
            np.testing.assert_allclose(got["boxes"], want["boxes"], rtol=0, atol=1e-4)
            np.testing.assert_array_equal(got["best_scores"], got["scores"].max(1))
            np.testing.assert_array_equal(got["best_classes"], got["scores"].argmax(1))


@pytest.mark.parametrize("classes", [None, (0, 2)])
def test_detections_equal_the_float_model(pair: tuple, classes: tuple) -> None:
    host, plain = pair
    options = {"conf": 0.05, "iou": 0.99, "max_det": 3000, "threads": 1, "classes": classes}
    with Detector(host, **options) as a, Detector(plain, **options) as b:
        for image in synthetic_images((180, 320), 3, seed=2):
            da, db = a(image), b(image)
            assert len(da) >= (20 if classes is None else 5) and len(da) == len(db)
            np.testing.assert_array_equal(da.class_id, db.class_id)
            np.testing.assert_allclose(da.xyxy, db.xyxy, atol=0.01)
            if classes is not None:
                assert set(da.class_id.tolist()) <= set(classes)


@pytest.mark.parametrize(
    "classes, fetched", [(None, {"boxes", "best_scores", "best_classes"}), ((0, 2), None)]
)
def test_detector_fetches_only_the_outputs_the_decoder_reads(pair: tuple, classes: tuple, fetched) -> None:
    host, plain = pair
    with Detector(host, threads=1, classes=classes) as det:
        needs = det.decoder.needs(det.options)
        assert (None if needs is None else set(needs)) == fetched
        seen = []
        infer = det.runtime.infer
        det.runtime.infer = lambda x, outputs=None: seen.append(outputs) or infer(x, outputs)
        image = synthetic_images((180, 320), 1, seed=2)[0]
        got = det(image)
        want = det.decoder(infer(det.preprocess(image)[0].copy()), [det.preprocess(image)[1]], det.options)[0]
        assert (set(seen[0]) if seen[0] is not None else None) == fetched
        np.testing.assert_array_equal(got.xyxy, want.xyxy)
        np.testing.assert_array_equal(got.class_id, want.class_id)
        if fetched is not None:  # the runtime returned just those (the 2D scores stayed in onnxruntime)
            assert set(infer(det.preprocess(image)[0].copy(), seen[0])) == fetched
    with Detector(plain, threads=1) as det:  # no per-anchor best score: every output is read
        assert det.decoder.needs(det.options) is None


def test_verification_covers_the_best_scores(pair: tuple) -> None:
    manifest = json.loads((pair[0] / "manifest.json").read_text())
    figures = verified(manifest, ["onnxruntime"])["onnxruntime"]
    roles = {row["role"] for row in figures["outputs"]}
    assert {"boxes", "scores", "best_scores"} <= roles


def test_triton_config_declares_the_models_own_types(pair: tuple, tmp_path: Path) -> None:
    dest = export_triton(pair[0], tmp_path / "repo", name="y11")
    config = (dest / "config.pbtxt").read_text()
    assert 'name: "images"\n    data_type: TYPE_UINT8' in config
    assert 'name: "best_classes"\n    data_type: TYPE_INT64' in config


def test_cli_no_host_io_keeps_the_float_interface(tmp_path: Path) -> None:
    need("onnxruntime")
    out = tmp_path / "b.edgekit"
    args = ["convert", str(YOLO11), "--target", "x86-avx2", "--backend", "onnxruntime", "--imgsz", "128x96"]
    proc = run_cli(*args, "--no-host-io", "--no-verify", "-o", str(out), timeout=300)
    assert proc.returncode == 0, proc.stderr
    art = json.loads((out / "manifest.json").read_text())["artifacts"][0]
    assert art["io"] == [] and art["extra_outputs"] == []
