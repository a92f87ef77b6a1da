"""Ultralytics through edgekit's reparameterization: the deploy form IS Ultralytics' ``model.fuse()``.

Official references (``tests/data/golden/ultralytics/*_fused.npz``, ``fused_provenance.json``):
the golden checkpoints loaded with ``ultralytics.nn.tasks.load_checkpoint``, ``model.end2end`` set,
``model.fuse()``, outputs on each fixture's input, fused parameter counts and state-dict signatures.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np
import pytest
import torch
from torch import nn

from edgekit.contract.decode import decode
from edgekit.contract.model import LoadedModel, ModelInfo
from edgekit.models.ultralytics import FAMILY, UltralyticsModel, get_arch
from edgekit.models.ultralytics.blocks import RepVGGDW
from edgekit.models.ultralytics.conv import RepConv
from edgekit.models.ultralytics.family import model_info
from edgekit.models.ultralytics.head import Detect
from edgekit.reparam import (
    PIPELINES,
    FusedConv,
    ReparamOptions,
    ReparamReport,
    batchnorm_paths,
    randomize_batchnorm,
    reparameterize,
    sample_inputs,
)
from edgekit.verify import assert_equivalent

from ..golden import fixture_entry, read_provenance
from .helpers import END2END, FIXTURES, GOLDEN, load_golden, provenance, to_ultralytics_layout
from .test_structure import OFFICIAL, signature

# Fused parameter counts of the OFFICIAL models: ultralytics 8.4.190 (pip), torch 2.13.0+cpu,
# ``m = ultralytics.nn.tasks.DetectionModel(f"{name}.yaml")`` (nc 80), ``m.end2end = True`` for the
# NMS-free heads (yolov10n, yolo26*), ``m.eval().fuse()``; fused = sum(p.numel() for p in m.parameters());
# signature as in test_structure.py, of the fused state dict. Also in fused_provenance.json ("full_size").
OFFICIAL_FUSED = {
    "yolov8n": (3151904, "1c4559ae88a2b529"),
    "yolov9t": (2094000, "4a5b7b06d6a301b3"),
    "yolov10n": (2299264, "7ebe5776543f00cf"),
    "yolo11n": (2616248, "3fefe58967d5e8ef"),
    "yolo11s": (9443760, "467cc45c22bb9309"),
    "yolo11m": (20091712, "b5755e822f71efdd"),
    "yolo11l": (25340992, "ed87810c3d462251"),
    "yolo11x": (56919424, "dcfb4b6880c264df"),
    "yolo12n": (2590824, "70d04cd40345c0e2"),
    "yolo26n": (2408932, "45ddd6fd615c79ae"),
    "yolo26s": (9496140, "64d7c5c49a0ea6b4"),
    "yolo26m": (20411132, "54061d69d7ffd067"),
    "yolo26l": (24807420, "a2fdf2e81d7784dc"),
    "yolo26x": (55725948, "2d8c784b7411a245"),
}
REP_MODULES = (RepConv, RepVGGDW)


def fused_provenance(golden: Path = GOLDEN) -> Dict[str, Any]:
    """``fused_provenance.json``; fails (never skips) when missing or incomplete."""
    required = ("source", "ultralytics_version", "date", "command", "what", "fixtures", "full_size")
    path = golden / "fused_provenance.json"
    return read_provenance(path, required, lambda p: "ultralytics" in p["source"], "the ultralytics package")


def fused_reference(name: str) -> Dict[str, Any]:
    """The official fused outputs of a fixture, checked against the golden checkpoint and input."""
    entry = fixture_entry(fused_provenance(), GOLDEN / "fused_provenance.json", name)
    golden = provenance(name)
    assert entry["checkpoint_sha256"] == golden["checkpoint_sha256"], f"{name}: computed from another .pt"
    ref = dict(np.load(GOLDEN / entry["reference"]))
    return {**entry, "arrays": ref}


def deploy_with_report(
    loaded: LoadedModel, x: torch.Tensor, output: str = "raw", info: Optional[ModelInfo] = None
) -> Tuple[nn.Module, ReparamReport]:
    """The ultralytics pipeline through the verifying walker (every pass within 1e-4 of the original)."""
    info = info or loaded.info
    pipeline = PIPELINES.get("ultralytics")(info, ReparamOptions(output=output, imgsz=tuple(x.shape[2:])))
    return reparameterize(loaded.model, pipeline, x, measure=False)


def deploy(loaded: LoadedModel, x: torch.Tensor, output: str = "raw", info: Optional[ModelInfo] = None):
    return deploy_with_report(loaded, x, output, info)[0]


def assert_fully_fused(model: nn.Module) -> None:
    assert batchnorm_paths(model) == []
    assert not any(isinstance(m, REP_MODULES) for m in model.modules())
    assert all(m.unused_branches() == [] for m in model.modules() if isinstance(m, Detect))


def params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", FIXTURES)
def test_raw_deploy_form_equals_official_fuse(name: str) -> None:
    loaded, golden = load_golden(name)
    ref = fused_reference(name)
    x = torch.from_numpy(golden["input"])
    assert hashlib.sha256(golden["input"].tobytes()).hexdigest() == ref["input_sha256"]
    fused, report = deploy_with_report(loaded, x)
    assert_fully_fused(fused)
    assert params(fused) == ref["params"] < params(loaded.model)
    assert signature(fused) == ref["signature"]  # same keys, order and shapes as the official fused model
    with torch.no_grad():
        box, cls = fused(x)
    for lv in range(3):
        assert_equivalent(box[lv], ref["arrays"][f"raw_box_{lv}"], f"{name} fused box level {lv}")
        assert_equivalent(cls[lv], ref["arrays"][f"raw_cls_{lv}"], f"{name} fused cls level {lv}")
        assert_equivalent(box[lv], golden[f"raw_box_{lv}"], f"{name} fused vs unfused box level {lv}")
    if name in END2END:  # one-to-many branch dropped, as Ultralytics' Detect.fuse does in end2end mode
        assert report.passes[0].name == "drop_unused_head_branch" and report.passes[0].changed == 2
        head = fused.head
        assert head.cv2 is None and head.cv3 is None and isinstance(head.one2one_cv2, nn.ModuleList)
        dropped = tuple(f"model.{len(fused.model) - 1}.{b}." for b in ("cv2", "cv3"))
        assert fused.end2end and not any(k.startswith(dropped) for k in fused.state_dict())
        with pytest.raises(ValueError, match="removed by reparameterization"):
            fused.end2end = False  # nothing left to switch to
    else:
        assert [r.name for r in report.passes] == ["deploy_form", "conv_bn"]


@pytest.mark.parametrize("name", [n for n in FIXTURES if n not in END2END])
def test_split_form_equals_official_fused_eval_output(name: str) -> None:
    loaded, golden = load_golden(name)
    ref = fused_reference(name)["arrays"]
    x = torch.from_numpy(golden["input"])
    fused = deploy(loaded, x, "split")
    assert_fully_fused(fused)
    with torch.no_grad():
        boxes, scores = fused(x)
    assert_equivalent(to_ultralytics_layout(boxes, scores), ref["decoded"], f"{name} fused decoded")


@pytest.mark.parametrize("name", END2END)
def test_end2end_form_equals_official_fused_eval_output(name: str) -> None:
    loaded, golden = load_golden(name)
    ref = fused_reference(name)["arrays"]
    x = torch.from_numpy(golden["input"])
    fused = deploy(loaded, x, "end2end")
    assert_fully_fused(fused)
    with torch.no_grad():
        dets = fused(x)
    assert dets.shape == ref["end2end"].shape
    assert_equivalent(dets, ref["end2end"], f"{name} fused end2end [B, K, 6]")


@pytest.mark.parametrize("name", END2END)
def test_nms_mode_of_nms_free_model_drops_the_one_to_one_branch(name: str) -> None:
    """``model.end2end = False`` before fusing: Ultralytics' Detect.fuse drops one2one_*; so does edgekit."""
    loaded, golden = load_golden(name)
    ref = fused_reference(name)
    loaded.model.end2end = False
    x = torch.from_numpy(golden["input"])
    fused = deploy(loaded, x)
    assert_fully_fused(fused)
    head = fused.head
    assert head.one2one_cv2 is None and head.one2one_cv3 is None and head.has_one2many
    assert params(fused) == ref["nms_params"] and signature(fused) == ref["nms_signature"]
    with torch.no_grad():
        box, cls = fused(x)
    for lv in range(3):
        assert_equivalent(box[lv], ref["arrays"][f"nms_raw_box_{lv}"], f"{name} NMS box level {lv}")
        assert_equivalent(cls[lv], ref["arrays"][f"nms_raw_cls_{lv}"], f"{name} NMS cls level {lv}")
    info = dataclasses.replace(loaded.info, head=dataclasses.replace(loaded.info.head, end2end=False))
    with torch.no_grad():
        boxes, scores = deploy(loaded, x, "split", info)(x)
    decoded = to_ultralytics_layout(boxes, scores)
    assert_equivalent(decoded, ref["arrays"]["nms_decoded"], f"{name} NMS decoded")


def test_nms_heads_have_no_branch_to_drop() -> None:
    loaded, _ = load_golden("yolo11_tiny")
    pipeline = PIPELINES.get("ultralytics")(loaded.info, ReparamOptions(output="split"))
    assert pipeline.names() == ["deploy_form", "conv_bn", "output_form"]
    with pytest.raises(ValueError, match="NMS-free"):
        PIPELINES.get("ultralytics")(loaded.info, ReparamOptions(output="end2end"))


def test_fused_provenance_matches_the_recorded_counts() -> None:
    prov = fused_provenance()
    assert set(prov["fixtures"]) == set(FIXTURES)
    golden = json.loads((GOLDEN / "provenance.json").read_text())
    assert prov["ultralytics_version"] == golden["ultralytics_version"]
    full = prov["full_size"]
    assert {k: (v["fused"], v["signature"]) for k, v in full.items()} == OFFICIAL_FUSED
    assert all(v["unfused"] == OFFICIAL[k][0] for k, v in full.items())


def test_fused_references_require_provenance(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="without provenance"):
        fused_provenance(tmp_path)
    (tmp_path / "fused_provenance.json").write_text(json.dumps({"source": "somewhere", "fixtures": {}}))
    with pytest.raises(pytest.fail.Exception, match="lacks"):
        fused_provenance(tmp_path)


@pytest.mark.parametrize("name", sorted(OFFICIAL_FUSED))
def test_full_size_deploy_form_has_official_fused_parameters(name: str) -> None:
    """The pipeline's passes on a full-size model built on the meta device (shapes only, no verification)."""
    with torch.device("meta"):
        model = UltralyticsModel(get_arch(name), stride=(8, 16, 32))
    pipeline = PIPELINES.get("ultralytics")(model_info(model, name), ReparamOptions(output="raw"))
    for p in pipeline.passes:
        if p.applies(model):
            p.run(model)
    assert_fully_fused(model)
    assert (params(model), signature(model)) == OFFICIAL_FUSED[name]


def test_repconv_with_identity_branch_fuses_to_the_hand_computed_kernel() -> None:
    """Branches (t = gamma / sqrt(var + eps), shift = beta - mean * t):

    conv1 3x3 all ones, BN t=2 shift=-1.5; conv2 1x1 = 3*I, BN t=0.5 shift=0; identity BN t=1 shift=0.5.
    Fused: every tap 1*2 = 2; centre diagonal 2 + 3*0.5 + 1 = 4.5; bias -1.5 + 0 + 0.5 = -1.
    """
    rep = RepConv(2, 2, bn=True).eval()
    assert rep.bn is not None and rep.bn.eps == 1e-3
    with torch.no_grad():
        rep.conv1.conv.weight.fill_(1.0)
        rep.conv2.conv.weight.copy_(3 * torch.eye(2).view(2, 2, 1, 1))
        for bn, gamma, beta, mean, var_eps in (
            (rep.conv1.bn, 1.0, 0.5, 1.0, 0.25),  # t = 1 / 0.5 = 2, shift = 0.5 - 1 * 2
            (rep.conv2.bn, 0.5, 0.0, 0.0, 1.0),  # t = 0.5, shift = 0
            (rep.bn, 2.0, 1.0, 0.5, 4.0),  # t = 2 / 2 = 1, shift = 1 - 0.5
        ):
            bn.weight.fill_(gamma)
            bn.bias.fill_(beta)
            bn.running_mean.fill_(mean)
            bn.running_var.fill_(var_eps - bn.eps)
    fused = rep.deploy_form()
    assert isinstance(fused, FusedConv) and isinstance(fused.act, nn.SiLU)
    expected = torch.full((2, 2, 3, 3), 2.0)
    expected[0, 0, 1, 1] = expected[1, 1, 1, 1] = 4.5
    torch.testing.assert_close(fused.conv.weight, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(fused.conv.bias, torch.tensor([-1.0, -1.0]), rtol=0, atol=1e-5)
    x = torch.randn(2, 2, 7, 9)
    with torch.no_grad():
        assert_equivalent(fused(x), rep(x), "RepConv with identity")


def test_grouped_strided_repconv_and_repvggdw_deploy_forms() -> None:
    torch.manual_seed(0)
    rep = randomize_batchnorm(RepConv(8, 8, s=2, g=4, bn=True), seed=1).eval()
    assert rep.bn is None  # stride 2: no identity branch, as in Ultralytics
    dw = randomize_batchnorm(RepVGGDW(6), seed=2).eval()
    x8, x6 = torch.randn(2, 8, 11, 13), torch.randn(2, 6, 11, 13)
    rep_fused, dw_fused = rep.deploy_form(), dw.deploy_form()
    assert rep_fused.conv.stride == (2, 2) and rep_fused.conv.groups == 4
    assert dw_fused.conv.kernel_size == (7, 7) and dw_fused.conv.groups == 6
    assert dw_fused.conv.bias is not None and isinstance(dw_fused.act, nn.SiLU)
    with torch.no_grad():
        assert_equivalent(rep_fused(x8), rep(x8), "grouped strided RepConv")
        assert_equivalent(dw_fused(x6), dw(x6), "RepVGGDW")


@pytest.mark.slow
def test_full_size_yolo11n_through_the_whole_pipeline() -> None:
    loaded = FAMILY.build("yolo11n")
    randomize_batchnorm(loaded.model, seed=3)
    x = sample_inputs(160, loaded.info.preprocess)
    fused = deploy(loaded, x, "split")
    assert_fully_fused(fused)
    assert params(fused) == OFFICIAL_FUSED["yolo11n"][0]
    with torch.no_grad():
        boxes, scores = fused(x)
        ref_boxes, ref_scores = decode(loaded.model(x), loaded.info.head)
    assert boxes.shape == (2, 20 * 20 + 10 * 10 + 5 * 5, 4) and scores.shape == (2, 525, 80)
    assert_equivalent(boxes, ref_boxes, "yolo11n boxes")
    assert_equivalent(scores, ref_scores, "yolo11n scores")
