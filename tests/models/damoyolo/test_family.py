"""DAMO-YOLO family: recognition, variant inference, load errors and ModelInfo."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from edgekit.errors import UnsupportedModelError
from edgekit.loading.checkpoint import RawCheckpoint, read_checkpoint
from edgekit.models.base import FAMILIES
from edgekit.models.damoyolo import ARCHS, FAMILY, DamoYolo, build_model, get_arch, write_official_checkpoint
from edgekit.models.damoyolo.family import infer_arch
from edgekit.models.damoyolo.names import COCO80

from .helpers import TINY


def meta_state_dict(variant: str, nc: int = 80) -> OrderedDict[str, torch.Tensor]:
    with torch.device("meta"):
        return DamoYolo(ARCHS[variant], nc=nc).state_dict()


def raw(obj: Any, name: str = "ckpt.pth") -> RawCheckpoint:
    return RawCheckpoint(path=Path(name), sha256="0" * 64, obj=obj)


@pytest.fixture(scope="module")
def t_weights() -> OrderedDict[str, torch.Tensor]:
    return build_model(ARCHS["damoyolo-t"], nc=80).state_dict()


def test_registered() -> None:
    assert FAMILIES.get("damoyolo") is FAMILY
    assert set(FAMILY.variants) == {f"damoyolo-{v}" for v in ("t", "s", "m", "l", "ns", "nm", "nl")}


@pytest.mark.parametrize("variant", sorted(ARCHS))
def test_variant_inferred_from_shapes(variant: str) -> None:
    assert infer_arch(meta_state_dict(variant, nc=7)).name == variant


def test_score(t_weights: Any) -> None:
    assert FAMILY.score(raw({"epoch": 1, "model": t_weights, "optimizer": None, "feature_loss": None})) == 1.0
    assert FAMILY.score(raw(t_weights)) == 1.0  # bare state dict
    assert FAMILY.score(raw({"model.0.conv.weight": torch.zeros(1)})) == 0.0
    assert FAMILY.score(raw({"epoch": 3, "model": None})) == 0.0
    assert FAMILY.score(raw([1, 2, 3])) == 0.0


def test_load_infers_t_and_fills_info(t_weights: Any) -> None:
    feature_loss = {"align_module.0.weight": torch.ones(2, 2, 1, 1)}
    obj = {"epoch": 300, "model": t_weights, "optimizer": None, "feature_loss": feature_loss}
    loaded = FAMILY.load(raw(obj, "damo_t.pth"))
    info = loaded.info
    assert info.variant == "damoyolo-t" and info.family == "damoyolo"
    assert info.names == list(COCO80)
    head = info.head
    assert (head.bins, head.anchor_offset, head.strides, head.nc) == (17, 0.0, (8, 16, 32), 80)
    pre = info.preprocess
    assert (pre.resize, pre.scale, pre.color, pre.pad_value) == ("stretch", 1.0, "RGB", 0)
    assert info.imgsz == (640, 640)
    s = info.structures
    assert s.dfl and s.scale_modules == 3 and s.distillation_leftovers
    assert s.rep_branches == sum(1 for k in t_weights if k.endswith("rbr_dense.conv.weight"))
    assert s.conv_bn > 0
    assert info.extra["epoch"] == 300 and info.source == "damo_t.pth"
    assert not loaded.model.training
    got = loaded.model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in t_weights.items())


def test_written_checkpoint_reads_back_through_read_checkpoint(tmp_path: Path) -> None:
    arch, nc = TINY["tiny_res"]
    model = build_model(arch, nc)
    feature_loss = {"align_module.0.weight": torch.ones(2, 2, 1, 1)}
    path = write_official_checkpoint(model, tmp_path / "tiny.pth", epoch=12, feature_loss=feature_loss)
    ckpt = read_checkpoint(path)
    assert FAMILY.score(ckpt) == 1.0
    loaded = FAMILY.load(ckpt, arch)
    assert loaded.info.extra["epoch"] == 12 and loaded.info.structures.distillation_leftovers
    assert loaded.info.source_sha256 == ckpt.sha256
    got = loaded.model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in model.state_dict().items())


def test_named_arch_and_nc_from_head(t_weights: Any) -> None:
    model = build_model(ARCHS["damoyolo-t"], nc=4)
    loaded = FAMILY.load(raw({"model": model.state_dict(), "feature_loss": None}), "T")
    assert loaded.info.variant == "damoyolo-t"
    assert loaded.info.names == ["class0", "class1", "class2", "class3"]
    assert not loaded.info.structures.distillation_leftovers


def test_81_class_channels_read_as_legacy_coco() -> None:
    legacy = get_arch("damoyolo-t").with_(legacy=True)
    sd = build_model(legacy, nc=80).state_dict()
    assert sd["head.gfl_cls.0.weight"].shape[0] == 81
    loaded = FAMILY.load(raw({"model": sd}))
    assert loaded.info.nc == 80 and loaded.info.extra["legacy_head"]
    with torch.no_grad():
        _, cls = loaded.model(torch.zeros(1, 3, 64, 64))
    assert cls[0].shape[1] == 80


def test_custom_res_structure_is_read_from_the_weights(caplog: pytest.LogCaptureFixture) -> None:
    arch, nc = TINY["tiny_res"]
    model = build_model(arch, nc).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    with caplog.at_level("WARNING"):
        loaded = FAMILY.load(raw({"model": model.state_dict()}, "custom.pth"))
    got = loaded.model.arch
    assert loaded.info.variant == "damoyolo-custom"
    assert "ReLU" in loaded.info.extra["assumed"] and "custom.pth" in caplog.text
    for field in (
        "stem_out",
        "stages",
        "neck_in",
        "neck_out",
        "neck_blocks",
        "reg_max",
        "with_spp",
        "use_focus",
    ):
        assert getattr(got, field) == getattr(arch, field), field
    x = torch.rand(1, 3, 64, 64) * 255
    with torch.no_grad():
        for a, b in zip(loaded.model(x)[0] + loaded.model(x)[1], model(x)[0] + model(x)[1]):
            assert torch.equal(a, b)


def test_custom_structure_with_other_strides_asks_for_arch() -> None:
    arch, nc = TINY["tiny_res"]
    stages = list(arch.stages)
    stages[2] = replace(stages[2], stride=1)  # 16 -> 16: no residual projection either way
    stages[3] = replace(stages[3], stride=2)  # 16 -> 24 at stride 2: no projection, unlike T/S
    sd = build_model(arch.with_(stages=tuple(stages)), nc).state_dict()
    with pytest.raises(UnsupportedModelError, match=r"custom\.pth.*--arch"):
        FAMILY.load(raw({"model": sd}, "custom.pth"))


def test_csp_structure_unknown_asks_for_arch() -> None:
    arch, nc = TINY["tiny_csp"]
    sd = build_model(arch, nc).state_dict()
    with pytest.raises(UnsupportedModelError, match=r"custom\.pth.*--arch"):
        FAMILY.load(raw({"model": sd}, "custom.pth"))


def test_wrong_arch_is_a_user_error(t_weights: Any) -> None:
    with pytest.raises(UnsupportedModelError, match="do not fit damoyolo-s"):
        FAMILY.load(raw({"model": t_weights}, "t.pth"), "damoyolo-s")
    with pytest.raises(UnsupportedModelError, match="unknown DAMO-YOLO variant"):
        FAMILY.load(raw({"model": t_weights}, "t.pth"), "damoyolo-x")


def test_module_prefix_is_stripped(t_weights: Any) -> None:
    prefixed = OrderedDict((f"module.{k}", v) for k, v in t_weights.items())
    assert FAMILY.load(raw({"model": prefixed})).info.variant == "damoyolo-t"


def test_build_for_every_variant_names_and_heads() -> None:
    loaded = FAMILY.build("damoyolo-m", nc=80)
    assert loaded.info.variant == "damoyolo-m"
    assert loaded.info.names[0] == "person" and loaded.info.nc == 80
    assert loaded.info.structures.rep_branches == sum(
        1 for k in loaded.model.state_dict() if k.endswith("rbr_1x1.conv.weight")
    )
    with pytest.raises(KeyError):
        FAMILY.build("damoyolo-q")
