"""``tools/train_fixture.py``: the stride-4 (P2) level it adds to an official architecture."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))

from train_fixture import add_p2_level  # noqa: E402

from edgekit.models.ultralytics.archs import get_arch  # noqa: E402
from edgekit.models.ultralytics.build import UltralyticsModel  # noqa: E402

UP = [-1, 1, "nn.Upsample", ["None", 2, "nearest"]]
# The head of Ultralytics' own P2 yamls (pip package 8.4.190), transcribed:
# ultralytics/cfg/models/26/yolo26-p2.yaml and ultralytics/cfg/models/v8/yolov8-p2.yaml
YOLO26_P2_HEAD = [
    UP,
    [[-1, 6], 1, "Concat", [1]],
    [-1, 2, "C3k2", [512, True]],
    UP,
    [[-1, 4], 1, "Concat", [1]],
    [-1, 2, "C3k2", [256, True]],
    UP,
    [[-1, 2], 1, "Concat", [1]],
    [-1, 2, "C3k2", [128, True]],
    [-1, 1, "Conv", [128, 3, 2]],
    [[-1, 16], 1, "Concat", [1]],
    [-1, 2, "C3k2", [256, True]],
    [-1, 1, "Conv", [256, 3, 2]],
    [[-1, 13], 1, "Concat", [1]],
    [-1, 2, "C3k2", [512, True]],
    [-1, 1, "Conv", [512, 3, 2]],
    [[-1, 10], 1, "Concat", [1]],
    [-1, 1, "C3k2", [1024, True, 0.5, True]],
    [[19, 22, 25, 28], 1, "Detect", ["nc"]],
]
YOLOV8_P2_HEAD = [
    UP,
    [[-1, 6], 1, "Concat", [1]],
    [-1, 3, "C2f", [512]],
    UP,
    [[-1, 4], 1, "Concat", [1]],
    [-1, 3, "C2f", [256]],
    UP,
    [[-1, 2], 1, "Concat", [1]],
    [-1, 3, "C2f", [128]],
    [-1, 1, "Conv", [128, 3, 2]],
    [[-1, 15], 1, "Concat", [1]],
    [-1, 3, "C2f", [256]],
    [-1, 1, "Conv", [256, 3, 2]],
    [[-1, 12], 1, "Concat", [1]],
    [-1, 3, "C2f", [512]],
    [-1, 1, "Conv", [512, 3, 2]],
    [[-1, 9], 1, "Concat", [1]],
    [-1, 3, "C2f", [1024]],
    [[18, 21, 24, 27], 1, "Detect", ["nc"]],
]


def test_p2_level_is_the_one_of_ultralytics_own_p2_yamls() -> None:
    assert add_p2_level(get_arch("yolo26n"))["head"] == YOLO26_P2_HEAD
    assert add_p2_level(get_arch("yolov8n"))["head"] == YOLOV8_P2_HEAD
    base = get_arch("yolo11n")
    p2 = add_p2_level(base)
    assert p2["backbone"] == base["backbone"] and len(p2["head"]) == len(base["head"]) + 6
    assert p2["head"][-1][0] == [19, 22, 25, 28]


def test_edgekit_builds_the_p2_model_with_four_levels_from_stride_4() -> None:
    arch = add_p2_level({**get_arch("yolo11n", nc=8), "scales": {"n": [0.33, 0.125, 1024]}, "scale": "n"})
    model = UltralyticsModel(arch).eval()
    assert model.stride.tolist() == [4.0, 8.0, 16.0, 32.0]
    with torch.no_grad():
        boxes, scores = model(torch.zeros(1, 3, 64, 96))
    assert [tuple(b.shape[-2:]) for b in boxes] == [(16, 24), (8, 12), (4, 6), (2, 3)]
    assert [s.shape[1] for s in scores] == [8] * 4
