"""The committed trained fixtures: each has a complete card, loads safely, and fits the budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgekit import load_checkpoint
from edgekit.eval.result import TASK_IOU_TYPE

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fixtures"
CHECKPOINTS = sorted(FIXTURES.glob("*.pt"))
METRICS = ("map50_95", "map50", "ap_small", "ap_medium", "ap_large", "per_class_ap")
FAMILY_OF = {
    "yolo11": "ultralytics",
    "yolo26": "ultralytics",
    "yolov9": "yolov9",
    "damoyolo": "damoyolo",
    "rtdetr": "ultralytics",
}
TRAIN_MINUTES = {"ultralytics": 30, "yolov9": 40, "damoyolo": 40}  # the issues' per-run limits


def card(checkpoint: Path) -> dict:
    return json.loads(checkpoint.with_suffix(".json").read_text())


def family(checkpoint: Path) -> str:
    return FAMILY_OF[checkpoint.stem.split("-")[0]]


def test_every_family_has_a_trained_fixture_within_the_size_budget() -> None:
    names = {p.stem.split("-")[0] for p in CHECKPOINTS}
    assert names == set(FAMILY_OF)
    detect = [p for p in CHECKPOINTS if "task" not in card(p)]
    tasks = [p for p in CHECKPOINTS if "task" in card(p)]
    assert sum(p.stat().st_size for p in detect) <= 15 * 1024 * 1024
    assert sum(p.stat().st_size for p in tasks) <= 10 * 1024 * 1024  # issue 33: the task fixtures


def test_every_task_has_a_trained_fixture_scored_on_its_own_metric() -> None:
    """Issue 33: a trained fixture per task in each style (YOLO11, YOLO26: NMS-free one-to-one
    heads), its card with the task's metric on the test split from edgekit and from Ultralytics'
    own validation."""
    cards = {p: card(p) for p in CHECKPOINTS if "task" in card(p)}
    styles = {(c["task"], p.stem.split("-")[0]) for p, c in cards.items()}
    assert styles == {(t, s) for t in ("segment", "pose", "obb") for s in ("yolo11", "yolo26")}
    for checkpoint, c in cards.items():
        assert checkpoint.stem.endswith({"segment": "-seg", "pose": "-pose", "obb": "-obb"}[c["task"]])
        assert c["test_metrics_fp32_task"]["map50_95"] is not None
        assert c["test_metrics_fp32_task"]["iou_type"] == TASK_IOU_TYPE[c["task"]]
        assert c["val_metrics_ultralytics"] and c["test_metrics_ultralytics"]
        assert load_checkpoint(checkpoint).info.task == c["task"]


@pytest.mark.parametrize("checkpoint", CHECKPOINTS, ids=lambda p: p.stem)
def test_card_is_complete_and_the_checkpoint_loads(checkpoint: Path) -> None:
    c = card(checkpoint)
    for key in ("command", "seed", "train_wall_time_s", "machine", "dataset", "test_metrics_fp32"):
        assert key in c, key
    assert c["command"].split()[1].startswith("tools/train_")
    assert 0 < c["train_wall_time_s"] <= TRAIN_MINUTES[family(checkpoint)] * 60
    for key in METRICS:
        assert c["test_metrics_fp32"][key] is not None, key
    assert c["dataset"]["test"] >= 500
    loaded = load_checkpoint(checkpoint)  # the safe reader: no code from the file runs
    assert loaded.info.family == family(checkpoint)
    assert loaded.info.nc == len(c["test_metrics_fp32"]["per_class_ap"])


@pytest.mark.parametrize(
    "checkpoint", [p for p in CHECKPOINTS if "test_metrics_train_form" in card(p)], ids=lambda p: p.stem
)
def test_deploy_form_scores_what_the_train_form_scores(checkpoint: Path) -> None:
    c = card(checkpoint)
    train, deploy = c["test_metrics_train_form"], c["test_metrics_fp32"]
    for key in ("map50_95", "map50"):
        assert abs(train[key] - deploy[key]) <= 0.001, (key, train[key], deploy[key])  # 0.1 point


def test_recorded_reproductions_are_the_same_command_within_five_points() -> None:
    """Issue: retraining with the tool reproduces a model within 0.05 mAP50-95."""
    cards = {p: card(p) for p in CHECKPOINTS}
    carded = [p for p, c in cards.items() if c.get("reproductions")]
    assert carded, "no fixture card records a reproduction run"
    for checkpoint in carded:
        c, minutes = cards[checkpoint], TRAIN_MINUTES[family(checkpoint)]
        for rerun in c["reproductions"]:
            # only the output folder may differ
            assert rerun["command"].split(" --out ")[0] == c["command"].split(" --out ")[0]
            assert 0 < rerun["train_wall_time_s"] <= minutes * 60
            delta = rerun["test_metrics_fp32"]["map50_95"] - c["test_metrics_fp32"]["map50_95"]
            assert abs(delta) <= 0.05, (checkpoint.stem, delta)
