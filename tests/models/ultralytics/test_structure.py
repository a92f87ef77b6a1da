"""Structure of edgekit's Ultralytics models against the official package, and the yaml semantics."""

from __future__ import annotations

import hashlib
from typing import Any, Dict

import pytest
import torch
from torch import nn

from edgekit.errors import UnsupportedModelError
from edgekit.models.ultralytics import FAMILY, VARIANTS, UltralyticsModel, get_arch, parse_model
from edgekit.models.ultralytics.attention import PSABlock
from edgekit.models.ultralytics.blocks import SPPF, Bottleneck, C3k, RepVGGDW
from edgekit.models.ultralytics.conv import Conv, DWConv, RepConv, parse_activation
from edgekit.models.ultralytics.head import Detect, v10Detect

# (parameters, state-dict signature) of the OFFICIAL models: ultralytics 8.4.190 (pip), torch 2.13.0,
# ``m = ultralytics.nn.tasks.DetectionModel(f"{name}.yaml")``; parameters = sum(p.numel() for p in
# m.parameters()) (what ``model.info()`` reports unfused; the yaml comments give the same numbers);
# signature = sha256("\n".join(f"{k}:{tuple(v.shape)}" for k, v in m.state_dict().items()))[:16],
# i.e. every state-dict key, in order, with its shape.
OFFICIAL = {
    "yolov8n": (3157200, "a6f0d49eee235a6f"),
    "yolov8s": (11166560, "e4fdf869bbbf030c"),
    "yolov8m": (25902640, "4ceb9a97946e9c22"),
    "yolov8l": (43691520, "53a022ebe15b02ca"),
    "yolov8x": (68229648, "c1038b781296dd78"),
    "yolov9t": (2128720, "e50ade349689bb8d"),
    "yolov9s": (7318368, "ea944bb1b3ffdde1"),
    "yolov9m": (20216160, "bb872eb5abbc3536"),
    "yolov9c": (25590912, "d7b30d92d7a6d649"),
    "yolov9e": (58206592, "c95b464d47487fc6"),
    "yolov10n": (2775520, "5653d4d8f2ce7a2b"),
    "yolov10s": (8128272, "9383dbeaf9586ae5"),
    "yolov10m": (16576768, "e1534dbc65dcb44e"),
    "yolov10b": (20574384, "4bcb8f315ea8ab59"),
    "yolov10l": (25888688, "f11841cfa0062242"),
    "yolov10x": (31808960, "eb57398472d9a522"),
    "yolo11n": (2624080, "884d5850a3edf96f"),
    "yolo11s": (9458752, "c573d6877cdfa1e6"),
    "yolo11m": (20114688, "2a9a033bb8f036c3"),
    "yolo11l": (25372160, "ff403710f01e18d5"),
    "yolo11x": (56966176, "7772455575143bf9"),
    "yolo12n": (2602288, "583a2ba70aad445a"),
    "yolo12s": (9284096, "3dddef8d75f9bd27"),
    "yolo12m": (20199168, "f7583eb0d9c7b65a"),
    "yolo12l": (26450784, "e8c4362cbab03314"),
    "yolo12x": (59210784, "808eab1ba30478d3"),
    "yolo26n": (2572280, "e7fc3566e3ea8542"),
    "yolo26s": (10009784, "52fa498d732a2c96"),
    "yolo26m": (21896248, "d308f6e73c072911"),
    "yolo26l": (26299704, "62f19650748b0303"),
    "yolo26x": (58993368, "14b91c114ef851cf"),
}


def signature(model: nn.Module) -> str:
    lines = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in model.state_dict().items())
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


def meta_model(cfg: Dict[str, Any]) -> UltralyticsModel:
    """Build without allocating weights (structure only)."""
    with torch.device("meta"):
        return UltralyticsModel(cfg)


def test_every_variant_has_an_official_reference() -> None:
    assert set(VARIANTS) == set(OFFICIAL)


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_structure_matches_official(name: str) -> None:
    model = meta_model(get_arch(name))
    params, sig = OFFICIAL[name]
    assert sum(p.numel() for p in model.parameters()) == params
    assert signature(model) == sig
    assert model.stride.tolist() == [8.0, 16.0, 32.0]


def test_build_named_variant_runs() -> None:
    loaded = FAMILY.build("yolo11n", nc=3)
    assert loaded.info.variant == "yolo11n" and loaded.info.nc == 3
    assert loaded.info.head.bins == 16 and not loaded.info.head.end2end
    with torch.no_grad():
        box_levels, cls_levels = loaded.model(torch.zeros(1, 3, 64, 96))
    assert [tuple(t.shape) for t in box_levels] == [(1, 64, 8, 12), (1, 64, 4, 6), (1, 64, 2, 3)]
    assert [tuple(t.shape) for t in cls_levels] == [(1, 3, 8, 12), (1, 3, 4, 6), (1, 3, 2, 3)]


def test_build_yolo26_is_end2end_without_dfl() -> None:
    info = FAMILY.build("yolo26n", nc=2).info
    assert info.head.end2end and info.head.bins == 1
    assert info.structures.one_to_many_head and not info.structures.dfl


def test_yolov10_head_is_end2end() -> None:
    model = meta_model(get_arch("yolov10n", nc=4))
    assert isinstance(model.head, v10Detect) and model.end2end and model.reg_max == 16
    convs = model.head.cv3[0][0]  # light class branch: grouped 3x3 conv + 1x1
    assert convs[0].conv.groups == convs[0].conv.in_channels
    assert any(isinstance(m, RepVGGDW) for m in model.modules())  # yolov10n's last C2fCIB has lk=True


def test_end2end_cannot_be_enabled_without_one2one_head() -> None:
    model = meta_model(get_arch("yolov8n", nc=2))
    assert not model.end2end
    with pytest.raises(ValueError, match="no one-to-one"):
        model.end2end = True


@pytest.mark.parametrize(("name", "inner"), [("yolo11s", Bottleneck), ("yolo11m", C3k), ("yolo26m", C3k)])
def test_c3k_is_forced_for_m_l_x_scales(name: str, inner: type) -> None:
    """Layer 2 of yolo11/yolo26 says c3k=False; Ultralytics forces it on for m/l/x."""
    layers, _ = parse_model(get_arch(name))
    assert type(layers[2].m[0]) is inner


def test_yolo26_last_c3k2_uses_attention() -> None:
    layers, _ = parse_model(get_arch("yolo26n"))
    assert isinstance(layers[22].m[0][1], PSABlock)


def test_sppf_activation_and_residual() -> None:
    """Legacy SPPF rows ([c2, k]) keep an activated cv1; YOLO26's [c2, k, n, shortcut] does not."""
    legacy, _ = parse_model(get_arch("yolo11n"))
    new, _ = parse_model(get_arch("yolo26n"))
    assert isinstance(legacy[9], SPPF) and isinstance(legacy[9].cv1.act, nn.SiLU) and not legacy[9].add
    assert isinstance(new[9].cv1.act, nn.Identity) and new[9].add and new[9].n == 3


def test_detect_class_branch_legacy_and_new() -> None:
    v8, _ = parse_model(get_arch("yolov8n"))
    v11, _ = parse_model(get_arch("yolo11n"))
    assert isinstance(v8[-1], Detect) and v8[-1].legacy and type(v8[-1].cv3[0][0]) is Conv
    assert not v11[-1].legacy and isinstance(v11[-1].cv3[0][0][0], DWConv)


def tiny_cfg() -> Dict[str, Any]:
    return {
        "nc": 2,
        "backbone": [
            [-1, 1, "Conv", [8, 3, 2]],
            [-1, 1, "Conv", [16, 3, 2]],
            [-1, 1, "RepNCSPELAN4", [16, 16, 8, 1]],
            [-1, 1, "Conv", [16, 3, 2]],
            [-1, 1, "Conv", [16, 3, 2]],
        ],
        "head": [[[2, 3, 4], 1, "Detect", ["nc"]]],
    }


def test_activation_key_overrides_conv_but_not_repconv() -> None:
    cfg = {**tiny_cfg(), "activation": "nn.ReLU()"}
    model = UltralyticsModel(cfg)
    acts = [
        type(m.act) for m in model.modules() if isinstance(m, Conv) and not isinstance(m.act, nn.Identity)
    ]
    assert acts and set(acts) == {nn.ReLU}
    reps = [m for m in model.modules() if isinstance(m, RepConv)]
    assert reps and all(isinstance(m.act, nn.SiLU) for m in reps)
    default = UltralyticsModel(tiny_cfg())  # the override does not leak into later builds
    assert isinstance(default.model[0].act, nn.SiLU)


def test_leaky_relu_activation_argument() -> None:
    act = parse_activation("torch.nn.LeakyReLU(0.1)")()
    assert isinstance(act, nn.LeakyReLU) and act.negative_slope == pytest.approx(0.1)


@pytest.mark.parametrize("spec", ["__import__('os').system('true')", "nn.Foo()", "nn.ReLU(print(1))"])
def test_activation_strings_are_never_evaluated(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_activation(spec)


def test_unknown_module_is_refused() -> None:
    cfg = tiny_cfg()
    cfg["backbone"][1][2] = "GhostConv"
    with pytest.raises(UnsupportedModelError, match="layer 1: module 'GhostConv'"):
        UltralyticsModel(cfg)


def test_batchnorm_settings() -> None:
    model = UltralyticsModel(tiny_cfg())
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.eps == 1e-3 and m.momentum == 0.03 for m in bns)
    assert model.head.dfl.conv.weight.flatten().tolist() == list(range(16))


def test_layers_carry_from_and_index() -> None:
    model = UltralyticsModel(tiny_cfg())
    assert [m.i for m in model.model] == list(range(6))
    assert model.model[-1].f == [2, 3, 4] and model.model[-1].type == "Detect"
    assert model.save == [2, 3, 4]


@pytest.mark.parametrize("name", ["yolo11n", "YOLO11N", "yolo11n.yaml", "yolov10b", "yolov9c"])
def test_get_arch_names(name: str) -> None:
    cfg = get_arch(name, nc=7)
    assert cfg["nc"] == 7 and cfg["yaml_file"] == name.lower().replace(".yaml", "") + ".yaml"


def test_get_arch_unknown() -> None:
    with pytest.raises(UnsupportedModelError, match="unknown Ultralytics architecture 'yolo11q'"):
        get_arch("yolo11q")
