"""TFLite (LiteRT) bundles: FP32 equal to the ONNX bundle, FP16 close, unsupported ops named,
and a fresh torch-free venv with ``edgekit-detect[tflite]`` runs a bundle made here."""

from __future__ import annotations

import json
import shutil
import subprocess
import venv
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

from edgekit.errors import ConversionError

from ..conftest import need
from .helpers import strict_matches, verified

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "data" / "golden"
FIXTURES = {
    "yolo11": GOLDEN / "ultralytics" / "yolo11_tiny.pt",
    "yolo26": GOLDEN / "ultralytics" / "yolo26_tiny.pt",
    "gelan": GOLDEN / "ultralytics" / "gelan_tiny.pt",
}
IMGSZ = 96
# untrained end-to-end heads tie scores at small sizes (see test_convert): the size other tests use
IMGSZ_OF = {"yolo26": (256, 320)}


@pytest.fixture(scope="module", autouse=True)
def backends() -> None:
    need("torch")
    need("onnxruntime")
    need("ai_edge_litert")
    need("litert_torch")


def convert(ckpt: Path, dest: Path, imgsz=IMGSZ, **options) -> Path:
    from edgekit import convert as run

    return run(ckpt, target="rpi5", imgsz=imgsz, output=dest, measure=False, **options)


def images() -> List[np.ndarray]:
    from edgekit.reparam.samples import synthetic_images

    return [img[..., ::-1].copy() for img in synthetic_images((120, 160), 3, seed=7)]


def detect(bundle: Path, backend: str) -> List:
    from edgekit.detector import Detector

    with Detector(bundle, backend=backend, conf=0.05, iou=0.99, max_det=3000) as det:
        return [det(img) for img in images()]


@pytest.mark.parametrize("family", sorted(FIXTURES))
def test_tflite_fp32_detections_equal_the_onnx_bundle(family: str, tmp_path: Path) -> None:
    bundle = convert(FIXTURES[family], tmp_path / "b.edgekit", IMGSZ_OF.get(family, IMGSZ), backend=None)
    manifest = json.loads((bundle / "manifest.json").read_text())
    arts = {a["backend"]: a for a in manifest["artifacts"]}
    assert {"tflite", "onnxruntime", "openvino"} <= set(arts) and arts["tflite"]["path"] == "model.tflite"
    verified(manifest, ["tflite", "onnxruntime", "openvino"])
    onnx_dets, tflite_dets = detect(bundle, "onnxruntime"), detect(bundle, "tflite")
    for a, b in zip(onnx_dets, tflite_dets):
        assert len(a) == len(b)
        assert strict_matches(a, b) >= min(20, len(a)) and len(a) >= 20


def test_tflite_fp16_is_smaller_and_close(tmp_path: Path) -> None:
    fp32 = convert(FIXTURES["yolo11"], tmp_path / "fp32.edgekit", backend="tflite")
    fp16 = convert(FIXTURES["yolo11"], tmp_path / "fp16.edgekit", backend="tflite", precision="fp16")
    assert (fp16 / "model.tflite").stat().st_size < 0.75 * (fp32 / "model.tflite").stat().st_size
    figures = verified(json.loads((fp16 / "manifest.json").read_text()), ["tflite"])["tflite"]
    assert figures["precision"] == "fp16" and figures["bounds"] == "fp16"


def test_unsupported_op_is_named_with_its_layer(tmp_path: Path) -> None:
    import torch

    from edgekit.converters.tflite import convert_float

    class Head(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.linalg.inv(x[:, :, :2, :2])

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.head = Head()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.conv(x))

    with pytest.raises(ConversionError) as info:
        convert_float(Model(), torch.rand(1, 3, 8, 8), tmp_path / "m.tflite")
    message = str(info.value)
    assert "LiteRT cannot express aten.linalg_inv" in message and "layer head" in message
    assert "\n" not in message and not (tmp_path / "m.tflite").exists()


@pytest.mark.parametrize("blocks", ["edgekit.models.yolov9.modules", "edgekit.models.ultralytics.gelan"])
def test_one_piece_cblinear_lowers_and_matches(blocks: str, tmp_path: Path) -> None:
    """gelan-e / yolov9-e (WongKinYiu) and Ultralytics' yolov9e feed CBFuse from CBLinear layers
    with a single output piece: a one-way split that litert-torch once failed to lower ('list'
    object has no attribute 'dtype'; found by the rpi5 variant sweep). LiteRT must equal PyTorch."""
    import importlib

    import torch
    from ai_edge_litert.interpreter import Interpreter

    from edgekit.converters.tflite import convert_float

    module = importlib.import_module(blocks)
    CBFuse, CBLinear = module.CBFuse, module.CBLinear

    class Model(torch.nn.Module):  # as in gelan-e: pieces of a coarser level upsampled and summed
        def __init__(self) -> None:
            super().__init__()
            self.down, self.full = torch.nn.Conv2d(3, 3, 3, 2, 1), torch.nn.Conv2d(3, 6, 3, 1, 1)
            self.one, self.two = CBLinear(3, [6]), CBLinear(3, [4, 6])
            self.fuse = CBFuse([0, 1])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            coarse = self.down(x)
            return self.fuse([self.one(coarse), self.two(coarse), self.full(x)])

    torch.manual_seed(0)
    model, x = Model().eval(), torch.rand(1, 3, 16, 20)
    convert_float(model, x, tmp_path / "m.tflite")
    interp = Interpreter(model_path=str(tmp_path / "m.tflite"))
    interp.allocate_tensors()
    (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
    interp.set_tensor(inp["index"], x.numpy())
    interp.invoke()
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(interp.get_tensor(out["index"]), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_fresh_venv_with_the_tflite_extra_runs_a_bundle(tmp_path: Path) -> None:
    bundle = convert(FIXTURES["yolo11"], tmp_path / "b.edgekit", backend="tflite")
    expected: Dict[str, list] = {}
    for i, det in enumerate(detect(bundle, "tflite")):
        expected[str(i)] = np.round(det.xyxy, 3).tolist()
    for i, img in enumerate(images()):
        np.save(tmp_path / f"img{i}.npy", img)
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    py = str(env_dir / "bin" / "python")
    src = tmp_path / "src"
    shutil.copytree(
        ROOT, src, ignore=shutil.ignore_patterns(".venv*", ".git", "tests", "*.egg-info", "build")
    )
    install = subprocess.run(
        [py, "-m", "pip", "install", "-q", f"{src}[tflite]"], capture_output=True, text=True, timeout=900
    )
    assert install.returncode == 0, install.stdout + install.stderr
    code = (
        "import importlib.util, json, sys, numpy as np\n"
        "assert importlib.util.find_spec('torch') is None\n"
        "from edgekit import Detector\n"
        f"det = Detector({str(bundle)!r}, conf=0.05, iou=0.99, max_det=3000)\n"
        "assert det.backend == 'tflite', det.backend\n"
        "out = {}\n"
        "for i in range(3):\n"
        f"    r = det(np.load({str(tmp_path)!r} + f'/img{{i}}.npy'))\n"
        "    out[str(i)] = np.round(r.xyxy, 3).tolist()\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([py, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sorted(got) == sorted(expected)
    for key, boxes in expected.items():  # the venv resizes without OpenCV: within half a pixel
        a, b = np.array(sorted(boxes)), np.array(sorted(got[key]))
        assert a.shape == b.shape and len(a) >= 20
        assert np.abs(a - b).max() <= 0.5


def test_tflite_int8_has_float_io_a_float_tail_and_runs(tmp_path: Path) -> None:
    need("ai_edge_quantizer")
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from edgekit.converters.tflite import tflite_float_scope
    from edgekit.testing import generate

    data = generate(tmp_path / "shapes", 20, 0, 0, seed=6, imgsz=128)
    bundle = convert(
        FIXTURES["yolo11"],
        tmp_path / "int8.edgekit",
        backend="tflite",
        precision="int8",
        calib=data.root / "images" / "train",
        calib_images=16,
        allow_small_calib=True,
        allow_accuracy_loss=True,  # untrained weights: near-tied scores
    )
    manifest = json.loads((bundle / "manifest.json").read_text())
    (art,) = manifest["artifacts"]
    assert art == {**art, "backend": "tflite", "precision": "int8", "path": "model.tflite"}
    assert sorted(p.name for p in bundle.iterdir()) == ["manifest.json", "model.tflite"]
    report = manifest["verification"]["int8"]["backends"]["tflite"]
    assert report["agreement"]["images_are"] == "calibration-disjoint"
    interp = Interpreter(
        model_path=str(bundle / "model.tflite"),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interp.allocate_tensors()
    assert interp.get_input_details()[0]["dtype"] == np.float32
    assert all(d["dtype"] == np.float32 for d in interp.get_output_details())
    dtypes = {t["name"]: t["dtype"] for t in interp.get_tensor_details()}
    assert sum(d == np.int8 for d in dtypes.values()) > 50  # the body is integer
    # every decode-tail op of the float model writes float in the quantized one
    tail, _ = tflite_float_scope(bundle / "model.tflite")
    assert tail and all(dtypes[name] == np.float32 for name in tail)
    assert sum(len(d) for d in detect(bundle, "tflite")) > 0


def test_int8_io_takes_int8_pixels_and_returns_what_float_io_returns(tmp_path: Path) -> None:
    """Same calibration, head quantized (so the outputs are integer too): the int8-I/O model
    is the float-I/O model minus its input QUANTIZE op, and detects the same objects."""
    need("ai_edge_quantizer")
    from ai_edge_litert.interpreter import Interpreter

    from edgekit.converters.int8 import float_interface
    from edgekit.detector import Detector
    from edgekit.testing import generate

    data = generate(tmp_path / "shapes", 20, 0, 0, seed=6, imgsz=128)
    common = dict(
        backend="tflite",
        precision="int8",
        calib=data.root / "images" / "train",
        calib_images=16,
        allow_small_calib=True,
        quantize_head=True,
        allow_accuracy_loss=True,  # untrained weights, head quantized: bounds are not the point here
    )
    plain = convert(FIXTURES["yolo11"], tmp_path / "float-io.edgekit", **common)
    integer = convert(FIXTURES["yolo11"], tmp_path / "int8-io.edgekit", int8_io=True, **common)
    (art,) = json.loads((integer / "manifest.json").read_text())["artifacts"]
    io = {t["name"]: t for t in art["io"]}
    assert set(io) == {"images", "boxes", "scores"} and all(t["dtype"] == "int8" for t in io.values())
    interp = Interpreter(model_path=str(integer / "model.tflite"))
    interp.allocate_tensors()
    (inp,) = interp.get_input_details()
    assert inp["dtype"] == np.int8
    assert inp["quantization"] == pytest.approx((io["images"]["quantization"]["scale"], -128), rel=1e-6)
    assert all(d["dtype"] == np.int8 for d in interp.get_output_details())
    ops = lambda p: Interpreter(model_path=str(p))._get_ops_details()  # noqa: E731
    # ai-edge-quantizer leaves a quantized head's outputs integer: only the input QUANTIZE goes
    assert len(ops(plain / "model.tflite")) - len(ops(integer / "model.tflite")) == 1
    with Detector(plain, conf=0.05) as a, Detector(integer, conf=0.05) as b:
        assert b.manifest.input.dtype == "int8" and a.manifest.input.dtype == "float32"
        infer = float_interface(b)
        for img in images():
            x, _ = a.preprocess(img)
            want, got = a.runtime.infer(x), infer(x)
            for name in ("boxes", "scores"):
                step = io[name]["quantization"]["scale"]
                np.testing.assert_allclose(got[name], want[name], atol=step * 1.01, rtol=0)
            da, db = a(img), b(img)  # the whole path: int8 pixels in, integer outputs decoded
            assert len(da) == len(db) and np.abs(da.xyxy - db.xyxy).max(initial=0) <= 2 * io["boxes"][
                "quantization"
            ]["scale"] / min(a.preprocess.width / img.shape[1], a.preprocess.height / img.shape[0])

    # a manifest whose quantization disagrees with the model's is refused at load, naming both
    from edgekit.errors import BackendError

    doc = json.loads((integer / "manifest.json").read_text())
    doc["artifacts"][0]["io"][0]["quantization"]["zero_point"] = 0
    (integer / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(BackendError, match=r"images is int8 scale .* zero -128 in the model, the manifest"):
        Detector(integer)


def test_int8_io_is_refused_where_it_cannot_apply(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="--int8-io applies to TFLite INT8"):
        convert(FIXTURES["yolo11"], tmp_path / "x.edgekit", int8_io=True)
    assert not (tmp_path / "x.edgekit").exists()
