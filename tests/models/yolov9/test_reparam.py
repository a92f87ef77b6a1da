"""YOLOv9 through edgekit's reparameterization: PGI strip, RepConvN and Conv+BN folds.

References: the official numbers and outputs of WongKinYiu/yolov9 (see provenance.json and
test_structure.OFFICIAL); the fused golden outputs are the official ``fuse()`` of each model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import pytest
import torch
from torch import nn

from edgekit.contract.model import LoadedModel
from edgekit.errors import VerificationError
from edgekit.models.loader import load_checkpoint
from edgekit.models.yolov9 import (
    FAMILY,
    PgiStripPass,
    YoloV9Model,
    build_model,
    get_arch,
    identify,
    plan_strip,
    strip_pgi,
    write_official_checkpoint,
)
from edgekit.models.yolov9.archs import layer_rows
from edgekit.models.yolov9.heads import DDetect, DualDDetect
from edgekit.models.yolov9.modules import Conv, RepConvN, Silence
from edgekit.reparam import (
    PIPELINES,
    FusedConv,
    ReparamOptions,
    batchnorm_paths,
    randomize_batchnorm,
    reparameterize,
    sample_inputs,
)
from edgekit.verify import FP32, assert_equivalent

from .helpers import IMGSZ
from .test_golden import fixture_file, official_decoded

SIZES = ("t", "s", "m", "c", "e")
PGI_FIXTURES = ("tiny_v9t", "tiny_v9c")

# Parameter count of the OFFICIAL gelan-<size> after its own ``DetectionModel.fuse()`` (what its
# ``model.info()`` prints; gelan-c: 25,288,768), i.e. of yolov9-<size> after the notebook's PGI
# strip and the fuse. Counting convention: parameters + buffers of edgekit's RAW deploy model
# (``ReparamOptions(output="raw")``), which equals its parameters: after the folds no buffer is
# left (every BatchNorm went, with its running stats and num_batches_tracked), the frozen DFL
# conv (16 weights) is a parameter in both codes and the head strides are plain attributes.
# The decoded head wrappers (output "split"/"concat") add NON-persistent buffers (anchors,
# strides, the DFL projection) that ``.buffers()`` lists: they are excluded, as official.
OFFICIAL_FUSED = {
    "t": 2_407_632,
    "s": 7_105_888,
    "m": 19_978_672,
    "c": 25_288_768,
    "e": 57_345_920,
}


def meta_loaded(name: str) -> LoadedModel:
    with torch.device("meta"):  # shapes only: full-size models in milliseconds
        return FAMILY.build(name)


def meta_model(name: str) -> YoloV9Model:
    return meta_loaded(name).model


def official_mapping(size: str) -> Dict[int, int]:
    """Layer copies of the official tools/reparameterization.ipynb (yolov9-<size> -> gelan-<size>)."""
    if size in ("t", "s"):
        return {**{i: i for i in range(22)}, 29: 22}
    if size in ("m", "c"):
        return {**{i: i - 1 for i in range(1, 23)}, 38: 22}
    return {**{i: i for i in range(29)}, **{i: i - 7 for i in range(36, 49)}, 49: 42}


def run_passes(loaded: LoadedModel, output: str = "raw") -> nn.Module:
    """The registered pipeline's passes applied directly (no verification: meta tensors)."""
    model = loaded.model
    for p in PIPELINES.get("yolov9")(loaded.info, ReparamOptions(output=output)).passes:
        if p.applies(model):
            model = p.run(model).model or model
    return model


def numel(model: nn.Module) -> Tuple[int, int]:
    return sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers())


# ---------------------------------------------------------------- structure (full size, no weights)


@pytest.mark.parametrize("size", SIZES)
def test_strip_follows_the_official_notebook_mapping(size: str) -> None:
    plan = plan_strip(meta_model(f"yolov9-{size}"))
    assert plan.mapping == official_mapping(size)
    assert plan.bypassed == ([0] if size in ("m", "c") else [])


@pytest.mark.parametrize("size", SIZES)
def test_stripped_model_is_the_gelan_model(size: str) -> None:
    stripped = strip_pgi(meta_model(f"yolov9-{size}"), inplace=True)
    gelan = meta_model(f"gelan-{size}")
    assert identify(stripped.yaml) == f"gelan-{size}"
    assert layer_rows(stripped.yaml) == layer_rows(gelan.yaml)
    assert len(stripped.yaml["backbone"]) == len(gelan.yaml["backbone"])
    assert type(stripped.head) is DDetect and not stripped.pgi
    for ours, theirs in zip(stripped.model, gelan.model):
        assert (ours.i, ours.f, ours.type, ours.np) == (theirs.i, theirs.f, theirs.type, theirs.np)
    assert stripped.save == gelan.save and stripped._ek_main_layers == gelan._ek_main_layers
    assert stripped.stride.tolist() == gelan.stride.tolist() == [8.0, 16.0, 32.0]
    sd, want = stripped.state_dict(), gelan.state_dict()
    assert [(k, tuple(v.shape)) for k, v in sd.items()] == [(k, tuple(v.shape)) for k, v in want.items()]
    gelan.load_state_dict(sd, strict=True)


@pytest.mark.parametrize("size", SIZES)
def test_fused_parameter_count_matches_official(size: str) -> None:
    deployed = run_passes(meta_loaded(f"yolov9-{size}"))
    params, buffers = numel(deployed)
    assert (params, buffers) == (OFFICIAL_FUSED[size], 0)
    assert batchnorm_paths(deployed) == []
    assert not any(isinstance(m, (RepConvN, DualDDetect)) for m in deployed.modules())
    silence = [layer.i for layer in deployed.model if isinstance(layer, Silence)]
    assert silence == ([0] if size == "e" else [])  # gelan-e keeps its Silence: both backbones read it


def test_decoded_wrapper_adds_only_non_persistent_buffers() -> None:
    wrapped = run_passes(meta_loaded("yolov9-c"), output="split")
    params, buffers = numel(wrapped)
    anchors = 80 * 80 + 40 * 40 + 20 * 20  # at 640x640
    assert params == OFFICIAL_FUSED["c"]
    assert buffers == 2 * anchors + anchors + 16  # anchor xy, stride per anchor, DFL projection 0..15
    assert not any(k.startswith(("anchors", "strides", "dfl_weight")) for k in wrapped.state_dict())


def test_gelan_pipeline_has_no_strip() -> None:
    names = {}
    for name in ("yolov9-c", "gelan-c"):
        info = meta_loaded(name).info
        names[name] = PIPELINES.get("yolov9")(info, ReparamOptions(output="split")).names()
    assert names["yolov9-c"] == ["pgi_strip", "deploy_form", "conv_bn", "output_form"]
    assert names["gelan-c"] == ["deploy_form", "conv_bn", "output_form"]
    assert not PgiStripPass().applies(meta_model("gelan-c"))
    with pytest.raises(ValueError, match="not a PGI"):
        plan_strip(meta_model("gelan-c"))


# ---------------------------------------------------------------- RepConvN by hand


def test_repconvn_fusion_by_hand() -> None:
    """3x3 of ones, 1x1 of 3, BN with sqrt(var + eps) = 0.5 and 1.0: the fused kernel is known."""
    rep = RepConvN(1, 1, act=False).eval()
    bn1, bn2 = rep.conv1.bn, rep.conv2.bn
    assert bn1.eps == bn2.eps == 1e-3
    with torch.no_grad():
        rep.conv1.conv.weight.fill_(1.0)
        rep.conv2.conv.weight.fill_(3.0)
        bn1.running_var.fill_(0.25 - 1e-3)  # t1 = 1 / 0.5 = 2
        bn1.running_mean.fill_(0.5)
        bn1.bias.fill_(0.1)  # b1 = 0.1 - 0.5 * 2 = -0.9
        bn2.running_var.fill_(1.0 - 1e-3)
        bn2.weight.fill_(2.0)  # t2 = 2
        bn2.running_mean.fill_(1.0)  # b2 = 0 - 1 * 2 = -2
    fused = rep.deploy_form()
    assert isinstance(fused, FusedConv) and isinstance(fused.act, nn.Identity)
    expected = torch.full((1, 1, 3, 3), 2.0)
    expected[0, 0, 1, 1] = 2.0 + 3.0 * 2.0  # the 1x1 lands on the centre tap
    torch.testing.assert_close(fused.conv.weight, expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(fused.conv.bias, torch.tensor([-2.9]), rtol=1e-6, atol=1e-6)
    x = torch.randn(2, 1, 7, 9)
    with torch.no_grad():
        assert_equivalent(fused(x), rep(x), "hand-made RepConvN")


def test_repconvn_fusion_keeps_activation_and_groups() -> None:
    rep = RepConvN(8, 12, g=4).eval()
    randomize_batchnorm(rep, seed=3)
    fused = rep.deploy_form()
    assert isinstance(fused.act, nn.SiLU) and fused.conv.groups == 4 and fused.conv.kernel_size == (3, 3)
    x = torch.randn(1, 8, 10, 6)
    with torch.no_grad():
        assert_equivalent(fused(x), rep(x), "grouped RepConvN")
    assert Conv(3, 4).conv_bn_pairs() == [("conv", "bn")]


# ---------------------------------------------------------------- golden fixtures vs official fuse()


def load_golden(name: str) -> Tuple[LoadedModel, Dict[str, np.ndarray], torch.Tensor]:
    loaded = load_checkpoint(fixture_file(name, "checkpoint"))
    ref = dict(np.load(fixture_file(name, "reference")))
    return loaded, ref, torch.from_numpy(ref["input"]).float()


def decoded_to_official(boxes: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """(xyxy boxes, scores) -> the official [B, 4 + nc, N] layout (xywh pixels + scores)."""
    xywh = torch.cat(((boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]), -1)
    return torch.cat((xywh, scores), -1).transpose(1, 2)


@pytest.mark.parametrize("name", [*PGI_FIXTURES, "tiny_gelan"])
@pytest.mark.parametrize("output", ["raw", "split"])
def test_pipeline_matches_official_fused_model(name: str, output: str) -> None:
    loaded, ref, x = load_golden(name)
    pipeline = PIPELINES.get("yolov9")(loaded.info, ReparamOptions(output=output, imgsz=IMGSZ))
    deployed, report = reparameterize(loaded.model, pipeline, x, measure=False)
    applied = [r.name for r in report.passes if r.applied]
    structural = ["pgi_strip"] if name in PGI_FIXTURES else []
    head = [] if output == "raw" else ["output_form"]
    assert applied == [*structural, "deploy_form", "conv_bn", *head]
    assert batchnorm_paths(deployed) == []
    assert not any(isinstance(m, (RepConvN, DualDDetect)) for m in deployed.modules())
    with torch.no_grad():
        out = deployed(x)
    got = official_decoded(out, loaded) if output == "raw" else decoded_to_official(*out)
    assert_equivalent(got, ref["main_fused_decoded"], f"{name} {output} vs official fuse()")


@pytest.mark.parametrize("name", PGI_FIXTURES)
def test_strip_is_bitwise_exact(name: str) -> None:
    loaded, ref, x = load_golden(name)
    stripped = strip_pgi(loaded.model)
    with torch.no_grad():
        want, got = loaded.model(x), stripped(x)
        still = loaded.model(x)  # the input model is untouched (nothing renumbered in place)
    for a, b, c in zip(got[0] + got[1], want[0] + want[1], still[0] + still[1]):
        assert torch.equal(a, b) and torch.equal(c, b)
    assert_equivalent(want[0][0], ref["main_box_0"], f"{name} main box P3")  # the branch kept is main


def test_strip_pass_demands_bitwise_equality() -> None:
    a = ([torch.ones(1, 4, 2, 2)], [torch.zeros(1, 2, 2, 2)])
    b = ([torch.ones(1, 4, 2, 2) + 1e-7], [torch.zeros(1, 2, 2, 2)])
    rows = PgiStripPass().compare(a, a, FP32)
    assert [(r.name, r.max_abs, r.ok) for r in rows] == [("output 0", 0.0, True), ("output 1", 0.0, True)]
    with pytest.raises(VerificationError, match="bitwise"):
        PgiStripPass().compare(b, a, FP32)  # within the FP32 bounds, yet refused


@pytest.mark.parametrize("name", PGI_FIXTURES)
def test_stripped_model_saves_as_gelan_checkpoint(name: str, tmp_path: Path) -> None:
    loaded, _, x = load_golden(name)
    stripped = strip_pgi(loaded.model)
    path = write_official_checkpoint(stripped, tmp_path / "gelan.pt", loaded.info.names)
    back = load_checkpoint(path)  # the family loads with strict=True
    assert not back.info.structures.pgi_branch and back.info.extra["head"] == "DDetect"
    assert back.info.variant == "gelan-custom" and back.info.names == loaded.info.names
    assert not any(isinstance(m, (Silence, DualDDetect)) for m in back.model.modules())
    with torch.no_grad():  # the fixture's weights are FP16 values already: nothing is rounded
        got, want = back.model(x), loaded.model(x)
    for a, b in zip(got[0] + got[1], want[0] + want[1]):
        assert torch.equal(a, b)


def test_full_size_round_trip_is_gelan_t(tmp_path: Path) -> None:
    """Full-size yolov9-t -> strip -> official-layout file -> edgekit reads a gelan-t back."""
    model = build_model(get_arch("yolov9-t"), nc=80).eval()
    randomize_batchnorm(model, seed=2)
    model.half().float()  # FP16 values: the official layout stores FP16, nothing rounds later
    stripped = strip_pgi(model)
    gelan = build_model(get_arch("gelan-t"), nc=80).eval()
    gelan.load_state_dict(stripped.state_dict(), strict=True)  # the stripped, unfused weights
    back = load_checkpoint(write_official_checkpoint(stripped, tmp_path / "gelan-t.pt"))
    assert back.info.variant == "gelan-t"
    x = sample_inputs(64, back.info.preprocess, batch=1)
    with torch.no_grad():
        outs = [m(x) for m in (model, gelan, back.model)]
    for a, b, c in zip(*(o[0] + o[1] for o in outs)):
        assert torch.equal(a, b) and torch.equal(a, c)


# ---------------------------------------------------------------- whole pipeline, full size


def test_full_size_yolov9_t_with_random_batchnorm() -> None:
    loaded = FAMILY.build("yolov9-t", nc=80)
    randomize_batchnorm(loaded.model, seed=1)
    x = sample_inputs(128, loaded.info.preprocess, batch=2)
    pipeline = PIPELINES.get("yolov9")(loaded.info, ReparamOptions(output="split", imgsz=(128, 128)))
    deployed, report = reparameterize(loaded.model, pipeline, x, measure=False)
    records = {r.name: r for r in report.passes}
    assert records["pgi_strip"].errors == {f"output {i}": 0.0 for i in range(6)}
    assert records["deploy_form"].changed == 42 and records["conv_bn"].changed == 137
    assert batchnorm_paths(deployed) == []
    with torch.no_grad():
        raw = loaded.model(x)
        boxes, scores = deployed(x)
    ref = official_decoded(raw, loaded)
    assert_equivalent(decoded_to_official(boxes, scores), ref, "yolov9-t deployed vs train-time")
    assert float(raw[0][0].std()) > 1e-2  # random BN did not flatten the outputs
