"""Golden tests: edgekit reproduces the real Ultralytics package on checkpoints it wrote.

``tools/make_ultralytics_golden.py`` built each narrow model with ``ultralytics`` (version in
``provenance.json``), randomized weights and BatchNorm statistics, saved an Ultralytics
checkpoint and recorded the official per-level head outputs and decoded outputs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from edgekit.contract.decode import decode, topk_end2end
from edgekit.verify import TOLERANCE, assert_equivalent, max_rel_error

from .helpers import END2END, FIXTURES, GOLDEN, load_golden, provenance, run, to_ultralytics_layout


@pytest.mark.parametrize("name", FIXTURES)
def test_raw_head_outputs_match_official(name: str) -> None:
    loaded, ref = load_golden(name)
    assert loaded.info.family == "ultralytics"
    box_levels, cls_levels = run(loaded.model, ref)
    assert len(box_levels) == len(cls_levels) == 3
    for lv in range(3):
        assert_equivalent(box_levels[lv], ref[f"raw_box_{lv}"], f"{name} box level {lv}")
        assert_equivalent(cls_levels[lv], ref[f"raw_cls_{lv}"], f"{name} cls level {lv}")


@pytest.mark.parametrize("name", FIXTURES)
def test_decoded_outputs_match_official(name: str) -> None:
    """edgekit's decode of the NMS head (one-to-many of end-to-end models) = Ultralytics' eval output."""
    loaded, ref = load_golden(name)
    if name in END2END:
        loaded.model.end2end = False
    boxes, scores = decode(run(loaded.model, ref), loaded.info.head)
    assert_equivalent(to_ultralytics_layout(boxes, scores), ref["decoded"], f"{name} decoded")


@pytest.mark.parametrize("name", END2END)
def test_end2end_outputs_match_official(name: str) -> None:
    loaded, ref = load_golden(name)
    assert loaded.info.head.end2end and loaded.model.end2end
    boxes, scores = decode(run(loaded.model, ref), loaded.info.head)
    dets = topk_end2end(boxes, scores, loaded.info.head.max_det)
    assert dets.shape == ref["end2end"].shape
    assert_equivalent(dets, ref["end2end"], f"{name} end2end [B, K, 6]")


@pytest.mark.parametrize("name", END2END)
def test_one_to_many_branch_is_kept_and_matches(name: str) -> None:
    loaded, ref = load_golden(name)
    assert loaded.info.structures.one_to_many_head
    loaded.model.end2end = False
    box_levels, cls_levels = run(loaded.model, ref)
    for lv in range(3):
        assert_equivalent(box_levels[lv], ref[f"o2m_box_{lv}"], f"{name} one-to-many box {lv}")
        assert_equivalent(cls_levels[lv], ref[f"o2m_cls_{lv}"], f"{name} one-to-many cls {lv}")


def test_fixtures_detect_a_wrong_bn_eps() -> None:
    """The randomized BatchNorm statistics make eps matter: torch's default 1e-5 must fail."""
    loaded, ref = load_golden("yolo11_tiny")
    for m in loaded.model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eps = 1e-5
    box_levels, _ = run(loaded.model, ref)
    assert max_rel_error(box_levels[0], ref["raw_box_0"]) > TOLERANCE


@pytest.mark.parametrize("name", FIXTURES)
def test_model_info_of_fixture(name: str) -> None:
    loaded, ref = load_golden(name)
    entry = provenance(name)
    info = loaded.info
    assert info.nc == entry["nc"] and info.names == [f"class{i}" for i in range(entry["nc"])]
    assert info.head.nc == entry["nc"] and info.head.bins == entry["reg_max"]
    assert info.head.end2end is entry["end2end"] is (name in END2END)
    assert info.head.strides == tuple(int(s) for s in ref["stride"]) == (8, 16, 32)
    assert info.head.anchor_offset == 0.5 and info.head.max_det == 300
    assert info.imgsz == (96, 96)  # train_args["imgsz"]
    assert info.preprocess.resize == "letterbox" and info.preprocess.pad_value == 114
    assert info.preprocess.color == "RGB" and info.preprocess.scale == pytest.approx(1 / 255)
    assert info.structures.dfl is (entry["reg_max"] > 1)
    assert info.structures.conv_bn > 0
    assert sum(p.numel() for p in loaded.model.parameters()) == entry["params"]
    assert not loaded.model.training


def test_train_structures_count_rep_branches() -> None:
    gelan, _ = load_golden("gelan_tiny")
    # each RepNCSPELAN4 holds 2 RepCSP of n RepBottlenecks, each with one RepConv
    rows = gelan.info.extra["yaml"]["backbone"] + gelan.info.extra["yaml"]["head"]
    expected = sum(2 * row[3][3] for row in rows if row[2] == "RepNCSPELAN4")
    assert expected > 0 and gelan.info.structures.rep_branches == expected
    v10, _ = load_golden("yolov10_tiny")  # the last C2fCIB has lk=True: one RepVGGDW
    assert v10.info.structures.rep_branches == 1
    yolo11, _ = load_golden("yolo11_tiny")
    assert yolo11.info.structures.rep_branches == 0


def test_golden_requires_provenance(tmp_path: Path) -> None:
    """A copy of a fixture without provenance.json must fail, not skip."""
    for suffix in (".pt", ".npz"):
        shutil.copy(GOLDEN / f"yolo11_tiny{suffix}", tmp_path / f"yolo11_tiny{suffix}")
    with pytest.raises(pytest.fail.Exception, match="without provenance"):
        load_golden("yolo11_tiny", tmp_path)


def test_golden_rejects_a_fixture_the_provenance_does_not_describe(tmp_path: Path) -> None:
    shutil.copy(GOLDEN / "provenance.json", tmp_path / "provenance.json")
    shutil.copy(GOLDEN / "yolov8_tiny.pt", tmp_path / "yolo11_tiny.pt")  # the wrong checkpoint
    with pytest.raises(AssertionError, match="not the file the provenance describes"):
        load_golden("yolo11_tiny", tmp_path)
