"""Segment / pose / OBB heads (YOLOv8, YOLO11, YOLO26): edgekit reproduces the real Ultralytics package.

``tools/make_ultralytics_task_golden.py`` built each narrow model from the official task yaml with
``ultralytics`` (version in ``provenance.json``), randomized weights and BatchNorm statistics, saved
an Ultralytics checkpoint and recorded the official per-level head outputs, the decoded eval
outputs and what ``model.fuse()`` leaves.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np
import pytest
import torch
from torch import nn

from edgekit.contract.decode import decode_task, topk_end2end
from edgekit.contract.model import HeadSpec, LoadedModel
from edgekit.errors import UnsupportedModelError
from edgekit.loading.checkpoint import read_checkpoint
from edgekit.models.ultralytics import FAMILY, UltralyticsModel
from edgekit.reparam import PIPELINES, ReparamOptions, batchnorm_paths, reparameterize
from edgekit.verify import assert_equivalent

from .helpers import (
    TASK_END2END,
    TASK_FIXTURES,
    TASK_GOLDEN,
    checkpoint_path,
    load_golden,
    provenance,
    task_input,
)
from .test_structure import signature

KEY = {"segment": "masks", "pose": "keypoints", "obb": "angle"}


def golden(name: str) -> Tuple[LoadedModel, Dict[str, np.ndarray], Dict[str, Any]]:
    loaded, ref = load_golden(name, TASK_GOLDEN)
    return loaded, ref, provenance(name, TASK_GOLDEN)


def run(model: nn.Module, ref: Dict[str, np.ndarray]) -> Any:
    with torch.no_grad():
        return model(task_input(ref))


def assert_levels(out: Any, ref: Dict[str, np.ndarray], task: str, tag: str, name: str) -> None:
    box, cls, extra = out
    assert len(box) == len(cls) == len(extra[KEY[task]]) == 3
    for lv in range(3):
        assert_close(box[lv], ref[f"{tag}_box_{lv}"], f"{name} {tag} box {lv}")
        assert_close(cls[lv], ref[f"{tag}_cls_{lv}"], f"{name} {tag} cls {lv}")
        assert_close(extra[KEY[task]][lv], ref[f"{tag}_{KEY[task]}_{lv}"], f"{name} {tag} {task} {lv}")
    if task == "segment":
        assert set(extra) == {"masks", "proto"}
        assert_close(extra["proto"], ref["proto"], f"{name} proto")


def assert_close(a: torch.Tensor, b: np.ndarray, what: str) -> None:
    assert_equivalent(a, b, what)


def ultralytics_layout(dec: Dict[str, torch.Tensor], task: str) -> torch.Tensor:
    """edgekit's decode -> Ultralytics' eval output (B, 4 + nc + extra, N): xywh, scores, task values."""
    if task == "obb":
        return torch.cat((dec["xywh"], dec["scores"], dec["angle"]), -1).transpose(1, 2)
    boxes = dec["boxes"]
    xywh = torch.cat(((boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]), -1)
    extra = dec["masks"] if task == "segment" else dec["keypoints"]
    return torch.cat((xywh, dec["scores"], extra), -1).transpose(1, 2)


def params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def deploy(loaded: LoadedModel, x: torch.Tensor) -> Tuple[nn.Module, List[str]]:
    pipeline = PIPELINES.get("ultralytics")(loaded.info, ReparamOptions(output="raw"))
    fused, report = reparameterize(loaded.model, pipeline, x, measure=False)
    return fused, [p.name for p in report.passes if p.applied]


@pytest.mark.parametrize("name", TASK_FIXTURES)
def test_checkpoint_loads_safely_as_its_task(name: str) -> None:
    ckpt = read_checkpoint(checkpoint_path(name, TASK_GOLDEN))  # the restricted unpickler: nothing runs
    entry = provenance(name, TASK_GOLDEN)
    assert ckpt.model_record().cls == f"ultralytics.nn.tasks.{entry['model_class']}"
    assert FAMILY.score(ckpt) == 1.0
    loaded = FAMILY.load(ckpt)
    assert type(loaded.model.head).__name__ == entry["head"]
    assert loaded.info.task == loaded.model.task == entry["task"]


@pytest.mark.parametrize("name", TASK_FIXTURES)
def test_raw_outputs_match_official(name: str) -> None:
    loaded, ref, entry = golden(name)
    assert_levels(run(loaded.model, ref), ref, entry["task"], "raw", name)


@pytest.mark.parametrize("name", TASK_END2END)
def test_one_to_many_branch_matches_official(name: str) -> None:
    loaded, ref, entry = golden(name)
    loaded.model.end2end = False
    assert_levels(run(loaded.model, ref), ref, entry["task"], "o2m", name)


@pytest.mark.parametrize("name", TASK_FIXTURES)
def test_decode_matches_official_eval_output(name: str) -> None:
    """edgekit's decode of the NMS head (one-to-many of end-to-end models) = Ultralytics' eval output."""
    loaded, ref, entry = golden(name)
    if name in TASK_END2END:
        loaded.model.end2end = False
    dec = decode_task(run(loaded.model, ref), loaded.info.head)
    assert_close(ultralytics_layout(dec, entry["task"]), ref["decoded"], f"{name} decoded")
    if entry["task"] == "segment":
        assert_close(dec["proto"], ref["proto"], f"{name} proto")


@pytest.mark.parametrize("name", TASK_END2END)
def test_end2end_matches_official(name: str) -> None:
    loaded, ref, entry = golden(name)
    assert loaded.info.head.end2end and loaded.model.end2end
    dec = decode_task(run(loaded.model, ref), loaded.info.head)
    task = entry["task"]
    boxes = dec["xywh"] if task == "obb" else dec["boxes"]  # OBB boxes stay centre + size
    extra = dec[KEY[task]]
    dets = topk_end2end(boxes, dec["scores"], loaded.info.head.max_det, extra)
    assert dets.shape == ref["end2end"].shape == (2, 42, 6 + extra.shape[-1])
    assert_close(dets, ref["end2end"], f"{name} end2end")


def _branches(name: str) -> List[bool]:
    return [True, False] if name in TASK_END2END else [False]


@pytest.mark.parametrize(("name", "one2one"), [(n, o) for n in TASK_FIXTURES for o in _branches(n)])
def test_reparam_equals_official_fuse_and_keeps_outputs(name: str, one2one: bool) -> None:
    loaded, ref, entry = golden(name)
    loaded = FAMILY.select_head(
        loaded, ("one2one" if one2one else "one2many") if name in TASK_END2END else None
    )
    official = entry["fused"]["one2one" if one2one else "one2many"]
    fused, passes = deploy(loaded, task_input(ref))  # every pass verified by the walker
    assert params(fused) == official["params"] < params(loaded.model)
    assert signature(fused) == official["signature"]  # same keys, order and shapes as Ultralytics' fuse()
    assert batchnorm_paths(fused) == []
    head = fused.head
    assert head.unused_branches() == [] and head.train_only_parts() == []
    assert not any(k.startswith(("flow_model", "cv4_sigma", "one2one_cv4_sigma")) for k in head.state_dict())
    assert not any("semseg" in k for k in head.state_dict())
    expected = ["drop_unused_head_branch"] if name in TASK_END2END else []
    expected += ["drop_train_only_head"] if entry["head"] in ("Pose26", "Segment26") else []
    assert passes == [*expected, "conv_bn"]  # no RepConv in these models: deploy_form does not apply
    tag = "o2m" if name in TASK_END2END and not one2one else "raw"
    assert_levels(run(fused, ref), ref, entry["task"], tag, name)


@pytest.mark.parametrize("name", TASK_FIXTURES)
def test_structure_facts(name: str) -> None:
    loaded, ref, entry = golden(name)
    info, head = loaded.info, loaded.info.head
    assert head.task == entry["task"] and head.nc == info.nc == entry["nc"]
    assert head.bins == entry["reg_max"] and head.end2end is entry["end2end"] is (name in TASK_END2END)
    assert head.strides == tuple(int(s) for s in ref["stride"]) == (8, 16, 32)
    assert head.masks == entry["masks"] and head.keypoints == tuple(entry["keypoints"])
    assert head.keypoint_decode == {"Pose": "v8", "Pose26": "v26"}.get(entry["head"], "")
    assert head.angle_decode == {"OBB": "sigmoid", "OBB26": "raw"}.get(entry["head"], "")
    assert info.structures.one_to_many_head is (name in TASK_END2END)
    assert info.structures.train_only_head == {"Pose26": 3, "Segment26": 1}.get(entry["head"], 0)
    assert params(loaded.model) == entry["params"]
    assert info.imgsz == (64, 64) and info.names == [f"class{i}" for i in range(entry["nc"])]


def test_pose_keypoints_without_visibility() -> None:
    """The v8 fixture has 2-d keypoints: x, y only, no sigmoid channel."""
    loaded, ref, _ = golden("yolov8_pose")
    assert loaded.info.head.keypoints == (4, 2) and loaded.info.head.nk == 8
    dec = decode_task(run(loaded.model, ref), loaded.info.head)
    assert dec["keypoints"].shape == (2, 42, 8)


def test_weights_that_do_not_fit_are_refused() -> None:
    ckpt = read_checkpoint(checkpoint_path("yolo11_pose", TASK_GOLDEN))
    ckpt.model_record().attr("yaml")["kpt_shape"] = [17, 3]  # the stored keypoint convs have 15 outputs
    with pytest.raises(
        UnsupportedModelError, match=r"do not fit the architecture: \d+ of another shape \(e.g. model.23.cv4"
    ):
        FAMILY.load(ckpt)


def test_missing_task_branch_is_refused() -> None:
    ckpt = read_checkpoint(checkpoint_path("yolo26_obb", TASK_GOLDEN))
    head = list(ckpt.model_record().attr("model").children().values())[-1]
    del head.attr("_modules")["one2one_cv4"]  # a corrupted checkpoint: one branch lost
    with pytest.raises(
        UnsupportedModelError, match=r"do not fit the architecture: \d+ missing \(e.g. .*one2one_cv4"
    ):
        FAMILY.load(ckpt)


def test_pose_yaml_without_kpt_shape_is_refused() -> None:
    cfg = {
        "nc": 2,
        "backbone": [[-1, 1, "Conv", [16, 3, 2]]],
        "head": [[[0], 1, "Pose", ["nc", "kpt_shape"]]],
    }
    with pytest.raises(UnsupportedModelError, match="needs the yaml's kpt_shape"):
        UltralyticsModel(cfg, stride=(2,))


@pytest.mark.parametrize("name", TASK_FIXTURES)
def test_task_models_reparameterize_to_their_decoded_forms(name: str) -> None:
    """The whole pipeline up to the decoded head (split; NMS-free top-k for end-to-end heads),
    every pass verified against the official checkpoint's outputs by the walker."""
    from edgekit.reparam.task_heads import TaskHead

    loaded, ref, _ = golden(name)
    x = task_input(ref)
    forms = ["split", "end2end"] if loaded.info.head.end2end else ["split"]
    for form in forms:
        fresh, _, _ = golden(name)
        pipeline = PIPELINES.get("ultralytics")(
            fresh.info, ReparamOptions(output=form, imgsz=tuple(x.shape[2:]))
        )
        deploy, report = reparameterize(fresh.model, pipeline, x, measure=False)
        last = report.passes[-1]  # a pass that changed the outputs beyond the bounds raises
        assert isinstance(deploy, TaskHead) and last.applied and last.errors, report.format_table()
        with torch.no_grad():
            outputs = deploy(x)
        assert len(outputs) == len(deploy.output_names)
        if form == "end2end":
            assert outputs[0].shape[1] == min(fresh.info.head.max_det, deploy.decoded.num_anchors)


@pytest.mark.parametrize(
    ("kwargs", "what"),
    [
        ({"task": "segmentation"}, "unknown task"),
        ({"task": "segment"}, "mask coefficients"),
        ({"task": "pose", "keypoints": (17, 4), "keypoint_decode": "v8"}, "keypoints"),
        ({"task": "pose", "keypoints": (17, 3)}, "keypoint_decode"),
        ({"task": "obb", "angle_decode": "tanh"}, "angle_decode"),
    ],
)
def test_head_spec_refuses_incomplete_task_facts(kwargs: Dict[str, Any], what: str) -> None:
    with pytest.raises(ValueError, match=what):
        HeadSpec(**kwargs)


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("yolo11_seg", "task         segment: boxes, scores, 8 mask coefficients and prototypes"),
        ("yolo26_pose", "task         pose: boxes, scores, 3 keypoints (x, y, visibility; v26 decode)"),
        ("yolov8_obb", "task         obb: rotated boxes (centre, size, angle; sigmoid angle), scores"),
    ],
)
def test_inspect_shows_the_task(name: str, shown: str) -> None:
    from edgekit.cli.inspect import describe_model, render

    d = describe_model(checkpoint_path(name, TASK_GOLDEN))
    assert d["head"]["task"] == provenance(name, TASK_GOLDEN)["task"]
    text = render(d)
    assert shown in text.splitlines()
    if name == "yolo26_pose":  # the flow model and the two sigma branches
        assert "drop 3 head module(s) only the training loss reads" in text


def _full_size() -> Dict[str, Any]:
    from ..golden import read_provenance

    path = TASK_GOLDEN / "provenance.json"
    prov = read_provenance(
        path, ("full_size",), lambda p: "ultralytics" in p["source"], "the ultralytics package"
    )
    return prov["full_size"]


@pytest.mark.parametrize("name", sorted(_full_size()))
def test_full_size_structure_matches_official(name: str) -> None:
    """Built from the official yaml (recorded by the tool), edgekit has the official keys, shapes and size."""
    entry = _full_size()[name]
    with torch.device("meta"):
        model = UltralyticsModel(entry["yaml"], stride=(8, 16, 32))
    assert signature(model) == entry["signature"]
    assert params(model) == entry["params"]
