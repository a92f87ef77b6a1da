"""RT-DETR through ``edgekit convert``: the real CLI on the golden checkpoints the real Ultralytics
package built (``tests/data/golden/rtdetr``) and the official RT-DETRv2 code built
(``tests/data/golden/rtdetrv2``), the bundle's model run by the real onnxruntime /
OpenVINO against the official decoder's own top-k, the plans' handling of GridSample (LiteRT left
out, TensorRT's parser table checked) and the one-line refusals.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest

pytest.importorskip("torch")  # the converter side (the device suite collects tests/ without torch)

from edgekit.detector import Detector

from ..cli.helpers import one_line_error, run_cli
from ..conftest import need
from .helpers import verified

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "rtdetr"
HGNET, RESNET = GOLDEN / "rtdetr_hgnet_tiny.pt", GOLDEN / "rtdetr_resnet_tiny.pt"
SIZE = "96x64"  # the references' input, width x height


def convert(tmp_path: Path, ckpt: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli("convert", str(ckpt), "-o", str(tmp_path / "b.edgekit"), *args, timeout=600)


def manifest_of(bundle: Path) -> Dict[str, Any]:
    return json.loads((bundle / "manifest.json").read_text())


def official_rows(top: np.ndarray, height: int, width: int) -> np.ndarray:
    """Ultralytics' top-k rows (normalized cx, cy, w, h, score, class) as x1, y1, x2, y2 pixels."""
    centre, half = top[:, :2], top[:, 2:4] / 2
    xyxy = np.concatenate([centre - half, centre + half], 1) * np.array([width, height, width, height])
    return np.concatenate([xyxy, top[:, 4:6]], 1)


def unmatched(official: np.ndarray, ours: np.ndarray, px: float, score: float) -> List[int]:
    """Official rows with no row of ours of the same class, corners within ``px``, score within ``score``."""
    missing = []
    for i, row in enumerate(official):
        same = (ours[:, 5] == row[5]) & (np.abs(ours[:, 4] - row[4]) <= score)
        same &= np.abs(ours[:, :4] - row[:4]).max(1) <= px
        if not same.any():
            missing.append(i)
    return missing


@pytest.fixture(scope="module")
def hgnet_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("onnxruntime")
    need("openvino")
    out = tmp_path_factory.mktemp("rtdetr")
    proc = convert(out, HGNET, "--target", "cpu", "--precision", "fp32", "--imgsz", SIZE, "--no-host-io")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "b.edgekit"


def test_the_bundle_reproduces_the_official_top_k(hgnet_bundle: Path) -> None:
    """The onnxruntime model on the references' own input: Ultralytics' top-k over queries x classes,
    in input pixels (the official decoder's outputs of its evaluation layer, then its post-process)."""
    ref = np.load(GOLDEN / "rtdetr_hgnet_tiny.npz")
    det = Detector(hgnet_bundle, backend="onnxruntime")
    _, _, height, width = ref["input"].shape
    for i in range(len(ref["input"])):
        out = det.runtime.infer(ref["input"][i : i + 1])
        ours = next(iter(out.values()))[0]
        official = official_rows(ref["topk"][i], height, width)
        assert ours.shape == official.shape  # min(max_det, queries) rows of x1, y1, x2, y2, score, class
        assert unmatched(official, ours, px=1e-3, score=1e-5) == []
        np.testing.assert_allclose(np.sort(ours[:, 4]), np.sort(official[:, 4]), atol=1e-5)


def test_the_manifest_says_nms_free_and_every_backend_verified(hgnet_bundle: Path) -> None:
    manifest = manifest_of(hgnet_bundle)
    assert manifest["decoder"]["type"] == "nms-free"
    assert manifest["preprocess"]["resize"] == "stretch"  # RTDETRPredictor: scale_fill
    assert {a["backend"] for a in manifest["artifacts"]} == {"onnxruntime", "openvino"}
    verified(manifest, ["onnxruntime", "openvino"])
    passes = [p["name"] for p in manifest["reparam"]["passes"] if p["applied"]]
    assert passes[0] == "drop_train_only_head" and passes[-1] == "end2end"


def test_the_detector_matches_openvino_and_onnxruntime_on_an_image(hgnet_bundle: Path) -> None:
    """The two backends of one bundle on a photo-like image, end to end (stretch, decode, map back)."""
    from edgekit.reparam.samples import synthetic_images

    image = synthetic_images((150, 210), batch=1, seed=3)[0]
    a, b = (
        Detector(hgnet_bundle, backend=k, conf=0.0)(image, color="RGB") for k in ("onnxruntime", "openvino")
    )
    assert len(a) == len(b) > 0
    rows = [np.concatenate([d.xyxy, d.confidence[:, None], d.class_id[:, None]], 1) for d in (a, b)]
    assert unmatched(rows[0], rows[1], px=0.05, score=1e-4) == []
    assert rows[0][:, [0, 2]].max() > 105  # mapped back to the 210 px wide image, not the 96 px input


def test_rpi5_leaves_litert_out_and_says_why(tmp_path: Path) -> None:
    need("onnxruntime")
    need("openvino")
    proc = convert(tmp_path, RESNET, "--target", "rpi5", "--imgsz", SIZE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "tflite left out: LiteRT has no GridSample" in proc.stdout + proc.stderr
    manifest = manifest_of(tmp_path / "b.edgekit")
    assert "tflite" not in {a["backend"] for a in manifest["artifacts"]}
    verified(manifest)


def test_jetson_onnx_has_grid_sample_and_passes_the_parser_table(tmp_path: Path) -> None:
    onnx = need("onnx")
    need("onnxruntime")
    proc = convert(tmp_path, RESNET, "--target", "jetson", "--imgsz", SIZE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ONNX parses in TensorRT 10.3" in proc.stdout + proc.stderr
    manifest = manifest_of(tmp_path / "b.edgekit")
    (artifact,) = [a for a in manifest["artifacts"] if a["backend"] == "tensorrt"]
    model = onnx.load(str(tmp_path / "b.edgekit" / artifact["path"]))
    ops = {n.op_type for n in model.graph.node}
    assert "GridSample" in ops  # the deformable attention, checked against the table, not decomposed
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 16


def test_litert_alone_is_refused_in_one_line(tmp_path: Path) -> None:
    proc = convert(tmp_path, RESNET, "--target", "rpi5", "--backend", "tflite", "--imgsz", SIZE)
    one_line_error(proc, "GridSample", "LiteRT", "--backend onnxruntime")
    assert not (tmp_path / "b.edgekit").exists()


def test_int8_quantizes_the_convolutions_only(tmp_path: Path) -> None:
    """INT8 of a DETR graph: the convolutions (backbone, neck) quantized, every other node float
    (attention, softmax, sampling, the decoder); both backends' INT8 checked against FP32."""
    from edgekit.reparam.samples import synthetic_images

    onnx = need("onnx")
    cv2 = need("cv2")
    need("onnxruntime")
    need("openvino")
    (tmp_path / "calib").mkdir()
    for i, image in enumerate(synthetic_images((64, 96), batch=24, seed=5)):
        cv2.imwrite(str(tmp_path / "calib" / f"{i}.png"), image)
    args = ["--target", "cpu", "--int8", "--calib", str(tmp_path / "calib"), "--allow-small-calib"]
    proc = convert(tmp_path, HGNET, *args, "--imgsz", SIZE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = manifest_of(tmp_path / "b.edgekit")
    int8 = [a for a in manifest["artifacts"] if a["precision"] == "int8"]
    assert {a["backend"] for a in int8} == {"onnxruntime", "openvino"}
    (ort,) = [a for a in int8 if a["backend"] == "onnxruntime"]
    model = onnx.load(str(tmp_path / "b.edgekit" / ort["path"]))
    inits = {i.name for i in model.graph.initializer}
    weights = {
        n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits
    }
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    dense = [n for n in model.graph.node if n.op_type in ("MatMul", "Gemm")]
    assert convs and all(n.input[1] in weights for n in convs)  # every convolution's weights INT8
    assert dense and not any(i in weights for n in dense for i in n.input)  # attention, FFN, heads float
    assert "GridSample" in {n.op_type for n in model.graph.node}


V2 = Path(__file__).resolve().parents[1] / "data" / "golden" / "rtdetrv2"
V2_ARCH = {
    n: f["edgekit_arch"] for n, f in json.loads((V2 / "provenance.json").read_text())["fixtures"].items()
}


@pytest.mark.parametrize("name", sorted(V2_ARCH))
def test_rtdetrv2_bundle_reproduces_the_official_post_process(name: str, tmp_path: Path) -> None:
    """RT-DETRv2 (lyuwenyu) for the Raspberry Pi: OpenVINO and onnxruntime, LiteRT left out; the
    onnxruntime model on the reference input gives ``RTDETRPostProcessor``'s rows (COCO ids: index + 1)."""
    need("onnxruntime")
    need("openvino")
    proc = convert(
        tmp_path,
        V2 / f"{name}.pth",
        "--arch",
        V2_ARCH[name],
        "--target",
        "rpi5",
        "--imgsz",
        SIZE,
        "--no-host-io",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = manifest_of(tmp_path / "b.edgekit")
    assert {a["backend"] for a in manifest["artifacts"]} == {"onnxruntime", "openvino"}
    verified(manifest)
    ref = np.load(V2 / f"{name}.npz")
    det = Detector(tmp_path / "b.edgekit", backend="onnxruntime")
    for i in range(len(ref["input"])):
        ours = next(iter(det.runtime.infer(ref["input"][i : i + 1]).values()))[0]
        official = np.concatenate(
            [ref["post_boxes"][i], ref["scores"][i][:, None], ref["labels"][i][:, None] - 1], 1
        )
        assert ours.shape == official.shape
        assert unmatched(official, ours, px=1e-3, score=1e-5) == []
