"""``tools/train_task_fixture.py``: the official task yaml and fixture name of each task, and the
task labels of the dataset it generates (training itself needs ``.venv-fixtures``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))

from fixture_common import ensure_dataset  # noqa: E402
from train_task_fixture import HEADLINE, SUFFIX, task_model  # noqa: E402

from edgekit.vocab import TASKS  # noqa: E402


def test_every_task_but_detect_has_an_official_yaml_and_a_fixture_name() -> None:
    assert set(SUFFIX) == set(HEADLINE) == set(TASKS) - {"detect"}
    assert task_model("yolo11", "segment") == ("yolo11n-seg.yaml", "yolo11-shapes-seg")
    assert task_model("yolo26", "pose") == ("yolo26n-pose.yaml", "yolo26-shapes-pose")
    assert task_model("yolo11", "obb") == ("yolo11n-obb.yaml", "yolo11-shapes-obb")
    with pytest.raises(ValueError, match="task"):
        task_model("yolo11", "detect")


def test_the_dataset_is_generated_with_the_tasks_labels(tmp_path: Path) -> None:
    data_yaml = ensure_dataset(tmp_path / "d", 0, {"train": 2, "val": 1, "test": 1}, task="pose", imgsz=128)
    assert "kpt_shape" in data_yaml.read_text()  # what Ultralytics' pose trainer reads
    label = next((tmp_path / "d" / "labels" / "train").glob("*.txt")).read_text().split("\n")[0].split()
    assert len(label) == 5 + 4 * 3  # class, box, four keypoints (x, y, visibility)
    assert ensure_dataset(tmp_path / "d", 0, task="pose") == data_yaml  # kept, not regenerated
