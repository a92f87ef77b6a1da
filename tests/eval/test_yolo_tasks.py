"""YOLO segment / pose / OBB labels as COCO ground truth, and ``validate`` of a task bundle."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from edgekit.decoding import Detections
from edgekit.detector import Detector
from edgekit.errors import InputFileError
from edgekit.eval import coco_from_data_yaml, yolo_to_coco
from edgekit.eval.validate import validate
from tests.conftest import need

from .test_yolo import write_image

SEG = "0 0.1 0.2 0.5 0.2 0.5 0.6 0.1 0.6\n1 0.6 0.1 0.9 0.1 0.75 0.5\n"
POSE = "0 0.5 0.5 0.4 0.5 0.4 0.3 2 0.6 0.3 1 0.5 0.7 0\n"  # 3 keypoints, the last unlabelled
# a 40 x 20 px rectangle at 45 degrees around (100, 50) in a 200 x 100 image, corners in order
_C = np.array([[100, 50]]) + np.array([[20, 10], [-20, 10], [-20, -10], [20, -10]]) @ np.array(
    [[math.cos(math.pi / 4), math.sin(math.pi / 4)], [-math.sin(math.pi / 4), math.cos(math.pi / 4)]]
)
OBB = "1 " + " ".join(f"{x / 200:.6f} {y / 100:.6f}" for x, y in _C) + "\n"


def labelled(root: Path, text: str, extra: str = "") -> Path:
    write_image(root / "images" / "val" / "1.png", 200, 100)
    (root / "labels" / "val").mkdir(parents=True)
    (root / "labels" / "val" / "1.txt").write_text(text)
    (root / "data.yaml").write_text(f"path: {root}\nval: images/val\nnames: [a, b]\n{extra}")
    return root / "data.yaml"


def test_segment_labels_become_polygons(tmp_path: Path) -> None:
    gt = coco_from_data_yaml(labelled(tmp_path, SEG), task="segment")
    box, tri = gt["annotations"]
    assert box["segmentation"] == [pytest.approx([20, 20, 100, 20, 100, 60, 20, 60])]
    assert box["bbox"] == pytest.approx([20, 20, 80, 40]) and box["area"] == pytest.approx(3200)
    assert tri["area"] == pytest.approx(0.5 * 60 * 40) and tri["category_id"] == 2
    plain = coco_from_data_yaml(tmp_path / "data.yaml")  # detect: boxes only, as before
    assert "segmentation" not in plain["annotations"][0]


def test_pose_labels_become_keypoints(tmp_path: Path) -> None:
    gt = coco_from_data_yaml(labelled(tmp_path, POSE, "kpt_shape: [3, 3]\nkpt_oks_sigmas: [.1, .2, .3]\n"))
    (ann,) = gt["annotations"]
    assert ann["keypoints"] == pytest.approx([80, 30, 2, 120, 30, 1, 0, 0, 0])
    assert ann["num_keypoints"] == 2 and ann["bbox"] == pytest.approx([60, 25, 80, 50])
    assert ann["area"] == pytest.approx(0.53 * 80 * 50)  # Ultralytics' OKS scale for box labels
    assert gt["kpt_oks_sigmas"] == [0.1, 0.2, 0.3] and gt["categories"][0]["keypoints"] == ["0", "1", "2"]
    boxes = coco_from_data_yaml(tmp_path / "data.yaml", task="detect")  # the box of a pose label
    assert boxes["annotations"][0]["bbox"] == pytest.approx([60, 25, 80, 50])


def test_pose_labels_need_their_shape(tmp_path: Path) -> None:
    data = labelled(tmp_path, POSE)
    with pytest.raises(InputFileError, match="kpt_shape"):
        coco_from_data_yaml(data, task="pose")
    with pytest.raises(InputFileError, match="keypoints of 2 values"):
        yolo_to_coco(tmp_path / "images" / "val", tmp_path / "labels" / "val", ["a", "b"], "pose", [4, 2])


def test_obb_labels_become_rotated_boxes(tmp_path: Path) -> None:
    gt = coco_from_data_yaml(labelled(tmp_path, OBB), task="obb")
    (ann,) = gt["annotations"]
    cx, cy, w, h, angle = ann["xywhr"]
    assert (cx, cy, w, h) == pytest.approx((100, 50, 40, 20), abs=1e-3)
    assert math.cos(2 * (angle - math.pi / 4)) == pytest.approx(1.0, abs=1e-6)  # 45 degrees, up to half turns
    assert ann["area"] == pytest.approx(800, abs=0.1) and ann["category_id"] == 2
    with pytest.raises(InputFileError, match="x4 y4"):
        (tmp_path / "labels" / "val" / "1.txt").write_text("0 0.5 0.5 0.1 0.1\n")
        coco_from_data_yaml(tmp_path / "data.yaml", task="obb")


class Oracle(Detector):
    """A ``Detector`` stand-in that returns the ground truth of each image in turn."""

    def __init__(self, task: str, gt: dict) -> None:  # no bundle: nothing of Detector's own is set up
        self.manifest = SimpleNamespace(decoder=SimpleNamespace(task=task))
        self.backend, self.task, self.gt, self.seen = "oracle", task, gt, 0

    def __call__(self, image: Any, color: str = "BGR", **overrides: Any) -> Detections:
        img = self.gt["images"][self.seen]
        self.seen += 1
        anns = [a for a in self.gt["annotations"] if a["image_id"] == img["id"]]
        xyxy = np.array([a["bbox"] for a in anns], np.float32).reshape(-1, 4)
        xyxy[:, 2:] += xyxy[:, :2]
        extra: dict = {}
        if self.task == "segment":
            fce = need("faster_coco_eval")
            coco = fce.COCO(self.gt, print_function=lambda *a, **k: None)
            extra["masks"] = np.stack([coco.annToMask(a).astype(bool) for a in anns])
        elif self.task == "pose":
            extra["keypoints"] = np.array([a["keypoints"] for a in anns]).reshape(len(anns), -1, 3)
        elif self.task == "obb":
            extra["xywhr"] = np.array([a["xywhr"] for a in anns])
        scores = np.linspace(0.9, 0.5, len(anns))
        return Detections(xyxy, scores, [a["category_id"] - 1 for a in anns], **extra)


@pytest.mark.parametrize(
    ("task", "labels", "extra", "headline"),
    [
        ("segment", SEG, "", "mask mAP50-95"),
        ("pose", POSE, "kpt_shape: [3, 3]\n", "pose mAP50-95"),
        ("obb", OBB, "", "OBB mAP50"),
    ],
)
def test_validate_scores_the_task(tmp_path: Path, task: str, labels: str, extra: str, headline: str) -> None:
    need("faster_coco_eval")
    data = labelled(tmp_path, labels, extra)
    oracle = Oracle(task, coco_from_data_yaml(data, task=task))
    result, facts = validate(oracle, data, save_json=tmp_path / "rows.json")
    assert facts["task"] == task and result.task == task
    assert result.map50_95 == pytest.approx(1.0) and result.headline == (headline, pytest.approx(1.0))
    key = {"segment": "segmentation", "pose": "keypoints", "obb": "xywhr"}[task]
    assert key in (tmp_path / "rows.json").read_text()
