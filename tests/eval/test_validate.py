"""``edgekit val``: the tiny real ONNX detector on a labelled set whose truth it can (or cannot) hit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgekit.detector import Detector
from edgekit.eval.validate import rect_canvases, validate

from ..cli.helpers import run_cli
from ..conftest import need
from ..runtimes.tiny import BOXES, write_tiny_bundle


def labelled_set(root: Path, boxes: np.ndarray, classes: list, n: int = 3) -> Path:
    """n red 64x128 images with YOLO labels ``boxes`` (pixels) and a data.yaml."""
    cv2 = need("cv2")
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(
            str(root / "images" / "val" / f"{i + 1}.png"),
            np.tile(np.array([0, 0, 255], np.uint8), (64, 128, 1)),
        )
        rows = []
        for (x1, y1, x2, y2), c in zip(boxes, classes):
            rows.append(f"{c} {(x1 + x2) / 256} {(y1 + y2) / 128} {(x2 - x1) / 128} {(y2 - y1) / 64}")
        (root / "labels" / "val" / f"{i + 1}.txt").write_text("\n".join(rows) + "\n")
    (root / "data.yaml").write_text(f"path: {root}\nval: images/val\nnames: [red, green, blue]\n")
    return root / "data.yaml"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    need("onnxruntime")
    need("faster_coco_eval")
    return write_tiny_bundle(tmp_path / "tiny.edgekit")


def test_perfect_truth_scores_one(bundle: Path, tmp_path: Path) -> None:
    data = labelled_set(tmp_path / "ok", BOXES[[0, 2]], [0, 0])
    result, facts = validate(bundle, data, save_json=tmp_path / "results.json")
    assert result.map50_95 == pytest.approx(1.0) and facts["images"] == 3
    rows = json.loads((tmp_path / "results.json").read_text())
    assert {r["category_id"] for r in rows} >= {1}


def test_wrong_class_and_missed_objects_lower_the_score(bundle: Path, tmp_path: Path) -> None:
    wrong = labelled_set(tmp_path / "wrong", BOXES[[0, 2]], [1, 1])
    assert validate(bundle, wrong)[0].map50_95 == pytest.approx(0.0)
    extra = labelled_set(tmp_path / "extra", np.concatenate([BOXES[[0, 2]], [[90, 40, 126, 62]]]), [0, 0, 0])
    partial = validate(bundle, extra)[0]
    assert 0.3 < partial.map50_95 < 0.9  # two of three objects found


def test_the_ultralytics_protocol_decodes_as_yolo_val(bundle: Path, tmp_path: Path) -> None:
    data = labelled_set(tmp_path / "ok", BOXES[[0, 2]], [0, 0])
    coco, coco_facts = validate(bundle, data)
    ultra, facts = validate(bundle, data, protocol="ultralytics")
    assert (coco_facts["iou"], coco_facts["multi_label"]) == (0.6, False)
    assert (facts["protocol"], facts["iou"], facts["conf"], facts["multi_label"]) == (
        "ultralytics",
        0.7,
        0.001,
        True,
    )
    assert ultra.map50_95 == pytest.approx(coco.map50_95)  # other classes' boxes have no truth to miss
    proc = run_cli("val", str(bundle), str(data), "--protocol", "ultralytics")
    assert proc.returncode == 0 and "ultralytics protocol: conf 0.001, iou 0.7, multi-label" in proc.stdout
    with pytest.raises(ValueError, match="unknown protocol"):
        validate(bundle, data, protocol="voc")


def test_cli_val(bundle: Path, tmp_path: Path) -> None:
    data = labelled_set(tmp_path / "ok", BOXES[[0, 2]], [0, 0])
    proc = run_cli("val", str(bundle), "--data", str(data), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["map50_95"] == pytest.approx(1.0)
    proc = run_cli("val", str(bundle), "--data", str(tmp_path / "missing.yaml"))
    assert proc.returncode != 0 and "missing.yaml" in proc.stderr
    proc = run_cli("val", str(bundle), str(data), "--json")  # the dataset as the second argument
    assert proc.returncode == 0 and json.loads(proc.stdout)["map50_95"] == pytest.approx(1.0), proc.stderr
    for args, message in [
        ((), "no dataset"),
        ((str(data), "--data", str(tmp_path / "x.yaml")), "two datasets"),
    ]:
        proc = run_cli("val", str(bundle), *args)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_imgsz_scales_the_long_side_then_pads(bundle: Path, tmp_path: Path) -> None:
    data = labelled_set(tmp_path / "ok", BOXES[[0, 2]], [0, 0])
    full, _ = validate(bundle, data)
    same, facts = validate(bundle, data, imgsz=128)  # 64x128 images: the long side is the input's
    assert same.map50_95 == pytest.approx(full.map50_95) and facts["imgsz"] == 128
    det = Detector(bundle)
    half, _ = validate(det, data, imgsz=64)  # 32x64 in the middle: the fixed boxes land elsewhere
    assert half.map50_95 < 0.5 * full.map50_95 and det.preprocess.fit is None  # restored
    proc = run_cli("val", str(bundle), str(data), "--protocol", "ultralytics", "--imgsz", "128")
    assert proc.returncode == 0, proc.stderr
    # yolo val imgsz=128 pads 64x128 images into 96x160 (half a stride more, rounded up to 32)
    assert "batch=16 pads 3 of 3 images into other shapes (most into 160x96" in proc.stdout
    assert "convert with --imgsz 160x96 and val with --imgsz 128" in proc.stdout


def test_imgsz_is_refused_for_a_stretching_bundle(tmp_path: Path) -> None:
    need("onnxruntime")
    from edgekit.bundle.manifest import Preprocess

    stretch = write_tiny_bundle(tmp_path / "stretch.edgekit", preprocess=Preprocess(resize="stretch"))
    data = labelled_set(tmp_path / "ok", BOXES[[0, 2]], [0, 0])
    proc = run_cli("val", str(stretch), str(data), "--imgsz", "64")
    assert proc.returncode == 2 and "--imgsz 64 applies to letterbox bundles" in proc.stderr
    assert "Traceback" not in proc.stderr


# (height, width) of 37 images in dataset order -> the input ``yolo val imgsz=320`` pads each into:
# printed by ultralytics 8.4.190's BaseDataset.set_rectangle (batch 16, stride 32, pad 0.5)
RECT_SIZES = [(360, 640), (480, 640), (640, 480), (320, 320), (640, 480), (360, 640), (360, 640),
              (427, 640), (480, 640), (480, 640), (320, 320), (720, 1280), (427, 640), (500, 375),
              (320, 320), (640, 480), (640, 640), (640, 640), (480, 640), (640, 480), (500, 375),
              (720, 1280), (360, 640), (500, 375), (720, 1280), (720, 1280), (427, 640), (427, 640),
              (640, 480), (640, 640), (640, 640), (1024, 768), (360, 640), (320, 320), (320, 320),
              (427, 640), (427, 640)]  # fmt: skip
A, B, C = (256, 352), (352, 352), (352, 256)
RECT_CANVASES = [A, B, B, B, B, A, A, A, A, B, B, A, A, B, B, B, B, B, B, C, C, A, A, C, A, A, A, A, C,
                 B, B, C, A, B, B, A, A]  # fmt: skip


def test_rect_canvases_are_yolo_vals() -> None:
    assert rect_canvases(RECT_SIZES, 320) == RECT_CANVASES
    assert rect_canvases([(320, 320)] * 3, 640) == [(672, 672)] * 3
