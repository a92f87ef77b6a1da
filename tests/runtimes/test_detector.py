from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edgekit.bundle.manifest import Preprocess
from edgekit.detector import Detector
from edgekit.errors import ImageError, InputFileError, ManifestError

from ..conftest import need
from .tiny import BOXES, write_tiny_bundle

RED_BGR = (0, 0, 255)


def solid(color, h: int = 64, w: int = 128) -> np.ndarray:
    return np.tile(np.array(color, np.uint8), (h, w, 1))


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    need("onnxruntime")
    return write_tiny_bundle(tmp_path / "tiny.edgekit")


def test_detector_end_to_end(tiny: Path) -> None:
    with Detector(tiny, threads=1) as det:
        result = det(solid(RED_BGR))
        # anchors 0 and 1 overlap (IoU 0.88): NMS keeps 0; anchor 2 survives; anchor 3 is below conf
        assert result.names == ["red", "red"]
        np.testing.assert_allclose(result.xyxy, BOXES[[0, 2]])
        assert set(det.timings) == {"preprocess", "inference", "decode"}
        high = det(solid(RED_BGR), conf=0.995)  # sigmoid(6) = 0.9975 stays, sigmoid(5) = 0.9933 goes
        np.testing.assert_allclose(high.xyxy, BOXES[[0]])
        assert len(det(solid(RED_BGR), classes=["green"])) == 0


def test_manifest_preprocessing_drives_the_result(tmp_path: Path) -> None:
    """Changing only the manifest's colour order flips the predicted class: nothing is hard-coded."""
    need("onnxruntime")
    rgb = Detector(write_tiny_bundle(tmp_path / "rgb.edgekit"))
    bgr = Detector(write_tiny_bundle(tmp_path / "bgr.edgekit", preprocess=Preprocess(color="BGR")))
    assert set(rgb(solid(RED_BGR)).names) == {"red"}
    assert set(bgr(solid(RED_BGR)).names) == {"blue"}
    dim = Detector(write_tiny_bundle(tmp_path / "dim.edgekit", preprocess=Preprocess(scale=0.1 / 255)))
    assert len(dim(solid(RED_BGR))) == 0  # scaled down: no score passes


def test_letterbox_maps_boxes_to_the_original(tiny: Path) -> None:
    det = Detector(tiny)
    big = det(solid(RED_BGR, 128, 256))  # twice the input size: boxes double
    np.testing.assert_allclose(big.xyxy, BOXES[[0, 2]] * 2)


def test_batch_dynamic_and_static(tmp_path: Path) -> None:
    need("onnxruntime")
    images = [solid(RED_BGR), solid((255, 0, 0)), solid(RED_BGR, 32, 64)]
    for dynamic in (False, True):
        det = Detector(write_tiny_bundle(tmp_path / f"b{dynamic}.edgekit", dynamic=dynamic))
        results = det.batch(images)
        assert [set(r.names) for r in results] == [{"red"}, {"blue"}, {"red"}]


def test_paths_and_bad_images(tiny: Path, tmp_path: Path) -> None:
    cv2 = pytest.importorskip("cv2")
    det = Detector(tiny)
    path = tmp_path / "red.png"
    cv2.imwrite(str(path), solid(RED_BGR))
    assert det(str(path)).names == ["red", "red"]
    with pytest.raises(InputFileError, match="no such image"):
        det(tmp_path / "missing.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(InputFileError, match="not a readable image"):
        det(tmp_path / "broken.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(InputFileError):
        det(tmp_path / "empty.jpg")
    with pytest.raises(ImageError):
        det(np.zeros((0, 0, 3), np.uint8))


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((64, 128), np.uint8),
        np.zeros((64, 128, 4), np.uint8),
        np.zeros((64, 128, 3), np.uint16),
        np.zeros((1, 1, 3), np.uint8),
    ],
)
def test_odd_images_run(tiny: Path, image: np.ndarray) -> None:
    result = Detector(tiny)(image)
    h, w = image.shape[:2]
    assert result.xyxy.shape[1] == 4 and len(result) <= 3
    assert (result.xyxy[:, 0::2] <= w).all() and (result.xyxy[:, 1::2] <= h).all()


@pytest.mark.slow
def test_huge_image(tiny: Path) -> None:
    img = np.zeros((8000, 8000, 3), np.uint8)
    img[..., 2] = 255
    result = Detector(tiny)(img)
    assert result.names == ["red", "red"] and float(result.xyxy.max()) <= 8000


def test_bundle_with_missing_model_file(tmp_path: Path) -> None:
    need("onnxruntime")
    b = write_tiny_bundle(tmp_path / "gone.edgekit", drop_model=True)
    with pytest.raises(ManifestError, match="missing"):
        Detector(b)


def test_unknown_class_name_and_bad_backend(tiny: Path) -> None:
    det = Detector(tiny)
    with pytest.raises(Exception, match="unknown class name"):
        det(solid(RED_BGR), classes=["zebra"])
    with pytest.raises(KeyError, match="no openvino model"):
        Detector(tiny, backend="openvino")


def test_manifest_round_trip_is_what_runs(tiny: Path) -> None:
    data = json.loads((tiny / "manifest.json").read_text())
    assert data["outputs"][1]["layout"] == "BCN"
    det = Detector(tiny)
    assert det.options == replace(det.options, conf=0.25)
