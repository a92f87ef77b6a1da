"""Structural checks of the named variants against the official models (no weights needed)."""

from __future__ import annotations

from typing import Dict, Tuple

import pytest
import torch

from edgekit.errors import UnsupportedModelError
from edgekit.models.yolov9 import ARCHS, VARIANTS, build_model, get_arch, identify
from edgekit.models.yolov9.build import YoloV9Model
from edgekit.models.yolov9.heads import DDetect, DualDDetect
from edgekit.models.yolov9.modules import CBFuse, CBLinear, RepConvN, Silence

# name -> (parameters, parameters + buffers, state-dict entries) of the OFFICIAL models:
# WongKinYiu/yolov9 @ 5b1ea9a8b3f0ffe4fe0e203ec6232d788bb3fcff, models.yolo.Model(
# "models/detect/<name>.yaml") (nc=80), sum(p.numel() for p in model.parameters()), + buffers,
# len(model.state_dict()); run on CPU with torch 2.13.0.
OFFICIAL: Dict[str, Tuple[int, int, int]] = {
    "yolov9-t": (3_717_680, 3_740_243, 1772),
    "yolov9-s": (9_804_512, 9_844_739, 1772),
    "yolov9-m": (32_878_432, 32_943_078, 1412),
    "yolov9-c": (51_182_080, 51_264_238, 1460),
    "yolov9-e": (69_529_664, 69_649_060, 2172),
    "gelan-t": (2_442_640, 2_459_405, 1339),
    "gelan-s": (7_226_208, 7_257_213, 1339),
    "gelan-m": (20_124_000, 20_166_861, 907),
    "gelan-c": (25_498_752, 25_551_130, 937),
    "gelan-e": (58_114_432, 58_216_106, 1811),
}
HEAD_INDEX = {"t": 29, "s": 29, "m": 38, "c": 38, "e": 49}  # the DualDDetect layer of yolov9-*


def meta_model(name: str, nc: int = 80) -> YoloV9Model:
    with torch.device("meta"):  # shapes only: fast, no memory
        return build_model(get_arch(name), nc=nc)


def test_every_official_variant_is_known() -> None:
    assert set(VARIANTS) == set(OFFICIAL)


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_parameter_counts_match_official(name: str) -> None:
    model = meta_model(name)
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    assert (params, params + buffers, len(model.state_dict())) == OFFICIAL[name]
    assert sum(layer.np for layer in model.model) == params


@pytest.mark.parametrize("size", sorted(HEAD_INDEX))
def test_dual_head_keys(size: str) -> None:
    """cv2/cv3/dfl = auxiliary head, cv4/cv5/dfl2 = main head; the D heads group the box convs."""
    model = meta_model(f"yolov9-{size}", nc=7)
    sd = model.state_dict()
    i = HEAD_INDEX[size]
    assert isinstance(model.model[i], DualDDetect) and len(model.model) == i + 1
    for prefix in ("cv2", "cv3", "cv4", "cv5"):
        for level in range(3):
            assert f"model.{i}.{prefix}.{level}.0.conv.weight" in sd
            assert f"model.{i}.{prefix}.{level}.0.bn.running_var" in sd
    assert sd[f"model.{i}.dfl.conv.weight"].shape == sd[f"model.{i}.dfl2.conv.weight"].shape == (1, 16, 1, 1)
    assert sd[f"model.{i}.cv5.0.2.weight"].shape[0] == 7
    box_mid = sd[f"model.{i}.cv4.0.1.conv.weight"]
    assert box_mid.shape[1] * 4 == box_mid.shape[0]  # Conv(c, c, 3, g=4)


def test_layer_attributes_follow_the_official_parser() -> None:
    model = meta_model("yolov9-c")
    assert isinstance(model.model[0], Silence) and model.model[0].type == "models.common.Silence"
    assert model.model[10].type == "models.common.SPPELAN" and model.model[11].f == -1
    assert model.model[11].type == "torch.nn.modules.upsampling.Upsample"
    assert isinstance(model.model[23], CBLinear) and model.model[23].c2s == [256]
    assert isinstance(model.model[30], CBFuse) and model.model[30].f == [23, 24, 25, -1]
    assert model.model[38].type == "models.yolo.DualDDetect" and model.model[38].f == [31, 34, 37, 16, 19, 22]
    assert [layer.i for layer in model.model] == list(range(39))
    assert model.save == sorted(model.save) and {5, 7, 9, 16, 19, 22, 31, 34, 37} <= set(model.save)


@pytest.mark.parametrize(
    "name, main_layers",
    [
        ("yolov9-t", set(range(22))),  # the second neck 22-28 feeds only the auxiliary head
        ("yolov9-c", set(range(23))),  # Silence + main net; CBLinear/second backbone 23-37 are auxiliary
        ("yolov9-e", set(range(29)) | set(range(36, 49))),  # two-backbone composite stays (gelan-e)
        ("gelan-c", set(range(22))),
    ],
)
def test_main_branch_layers(name: str, main_layers: set) -> None:
    """The layers the deployed (main) head needs: what the reparameterization keeps."""
    assert meta_model(name)._ek_main_layers == main_layers


@pytest.mark.parametrize("name", ["yolov9-t", "yolov9-c", "yolov9-e", "gelan-s"])
def test_strides(name: str) -> None:
    assert meta_model(name).stride.tolist() == [8.0, 16.0, 32.0]


def test_gelan_head_is_single() -> None:
    model = meta_model("gelan-c")
    assert type(model.head) is DDetect and not model.pgi
    assert not any(
        k.split(".")[2] in ("cv4", "cv5", "dfl2") for k in model.state_dict() if k.startswith("model.22")
    )


def test_rep_branches_only_in_repnbottleneck() -> None:
    model = meta_model("gelan-t")
    reps = [n for n, m in model.named_modules() if isinstance(m, RepConvN)]
    assert reps and all(n.endswith(".cv1") and ".m." in n for n in reps)
    assert all(m.bn is None for m in model.modules() if isinstance(m, RepConvN))


def test_identify_named_variants() -> None:
    for name in ARCHS:
        changed = get_arch(name)
        changed.update(nc=3, ch=3)
        assert identify(changed) == name
    custom = get_arch("gelan-c")
    custom["head"][0][3] = [256, 128]  # a different SPPELAN width
    assert identify(custom) is None


def test_width_and_depth_multiples() -> None:
    arch = get_arch("gelan-t")
    arch["width_multiple"] = 0.5
    model = build_model(arch, nc=2)
    # Conv widths scale and round up to multiples of 8; RepNCSPELAN4 hidden widths do not scale
    assert model.model[0].conv.out_channels == 8 and model.model[1].conv.out_channels == 16
    assert model.model[4].cv1.conv.out_channels == 64 and model.model[4].cv4.conv.out_channels == 32


def test_unknown_module_and_activation_are_refused() -> None:
    arch = get_arch("gelan-t")
    arch["backbone"][2] = [-1, 1, "BottleneckCSP", [32]]
    with pytest.raises(UnsupportedModelError, match="BottleneckCSP"):
        build_model(arch)
    arch = get_arch("gelan-t")
    arch["activation"] = "__import__('os').system('true')"
    with pytest.raises(UnsupportedModelError, match="activation"):
        build_model(arch)


def test_activation_entry_replaces_silu() -> None:
    arch = get_arch("gelan-t")
    arch["activation"] = "nn.ReLU()"
    model = build_model(arch)
    acts = {
        type(m.act) for m in model.modules() if hasattr(m, "act") and not isinstance(m.act, torch.nn.Identity)
    }
    assert acts == {torch.nn.ReLU}
