"""YOLO label folders and data.yaml as COCO ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import InputFileError
from edgekit.eval import coco_from_data_yaml, evaluate, image_size, labels_dir_for, yolo_to_coco
from tests.conftest import need


def write_image(path: Path, w: int, h: int) -> None:
    cv2 = need("cv2")
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), img)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".bmp"])
def test_image_size_from_headers(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"a{suffix}"
    write_image(path, 123, 45)
    assert image_size(path) == (123, 45)


def test_image_size_of_garbage_is_a_user_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8" + b"\x00" * 20)
    with pytest.raises(InputFileError):
        image_size(bad)


def test_yolo_to_coco_boxes_in_pixels(tmp_path: Path) -> None:
    images, labels = tmp_path / "images" / "val", tmp_path / "labels" / "val"
    write_image(images / "a.jpg", 200, 100)
    write_image(images / "sub" / "b.png", 50, 50)
    write_image(images / "c.jpg", 64, 64)  # no label file: an image without objects
    labels.mkdir(parents=True)
    (labels / "a.txt").write_text("1 0.5 0.5 0.2 0.4\n\n0 0.05 0.1 0.2 0.2\n")  # second box clipped at x = 0
    (labels / "sub").mkdir()
    (labels / "sub" / "b.txt").write_text("2 0.1 0.2 0.5 0.2 0.3 0.8\n")  # a polygon
    coco = yolo_to_coco(images, labels, ["x", "y", "z"])
    assert [i["file_name"] for i in coco["images"]] == ["a.jpg", "c.jpg", "sub/b.png"]
    assert [(i["width"], i["height"]) for i in coco["images"]] == [(200, 100), (64, 64), (50, 50)]
    boxes = [(a["image_id"], a["category_id"], a["bbox"]) for a in coco["annotations"]]
    assert boxes == [
        (1, 2, pytest.approx([80.0, 30.0, 40.0, 40.0])),
        (1, 1, pytest.approx([0.0, 0.0, 30.0, 20.0])),
        (3, 3, pytest.approx([5.0, 10.0, 20.0, 30.0])),
    ]
    assert [c["id"] for c in coco["categories"]] == [1, 2, 3]
    assert [a["id"] for a in coco["annotations"]] == [1, 2, 3]


def test_numeric_stems_are_the_image_ids(tmp_path: Path) -> None:
    images = tmp_path / "images"
    for stem in ("000007", "12", "000000"):
        write_image(images / f"{stem}.jpg", 8, 8)
    coco = yolo_to_coco(images, tmp_path / "labels", ["x"])
    assert [(i["id"], i["file_name"]) for i in coco["images"]] == [
        (0, "000000.jpg"),
        (7, "000007.jpg"),
        (12, "12.jpg"),
    ]
    write_image(images / "7.jpg", 8, 8)  # two files named 7: ids by position instead
    assert [i["id"] for i in yolo_to_coco(images, tmp_path / "labels", ["x"])["images"]] == [1, 2, 3, 4]


def test_yolo_to_coco_rejects_bad_labels(tmp_path: Path) -> None:
    images, labels = tmp_path / "images", tmp_path / "labels"
    write_image(images / "a.jpg", 32, 32)
    labels.mkdir()
    (labels / "a.txt").write_text("5 0.5 0.5 0.1 0.1\n")
    with pytest.raises(InputFileError, match="class 5"):
        yolo_to_coco(images, labels, ["x", "y"])
    (labels / "a.txt").write_text("0 0.5 0.5 0.1\n")
    with pytest.raises(InputFileError, match="line 1"):
        yolo_to_coco(images, labels, ["x", "y"])
    with pytest.raises(InputFileError, match="no images"):
        yolo_to_coco(labels, labels, ["x"])


def test_labels_dir_rule() -> None:
    assert labels_dir_for("/d/images/val") == Path("/d/labels/val")
    assert labels_dir_for("/images/x/images/val") == Path("/images/x/labels/val")
    with pytest.raises(InputFileError):
        labels_dir_for("/d/pics/val")


def test_data_yaml_split_evaluates_perfectly_against_its_own_labels(tmp_path: Path) -> None:
    images, labels = tmp_path / "images" / "val", tmp_path / "labels" / "val"
    write_image(images / "a.jpg", 160, 160)
    labels.mkdir(parents=True)
    (labels / "a.txt").write_text("0 0.5 0.5 0.25 0.5\n1 0.2 0.2 0.1 0.1\n")
    (tmp_path / "data.yaml").write_text("path: .\nval: images/val\nnames:\n  0: ring\n  1: star\n")
    coco = coco_from_data_yaml(tmp_path / "data.yaml", "val")
    assert [c["name"] for c in coco["categories"]] == ["ring", "star"]
    preds = [
        {
            "file_name": "a.jpg",
            "boxes": [[60, 40, 100, 120], [24, 24, 40, 40]],
            "scores": [1, 1],
            "class_ids": [0, 1],
        }
    ]
    assert evaluate(coco, preds).map50_95 == pytest.approx(1.0)
    with pytest.raises(InputFileError, match="'test'"):
        coco_from_data_yaml(tmp_path / "data.yaml", "test")
