"""The registered ``yolov9`` family: recognition, loading paths, ModelInfo, build()."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgekit.contract.model import PreprocessSpec
from edgekit.errors import UnsupportedModelError
from edgekit.loading.checkpoint import RawCheckpoint, Record, read_checkpoint
from edgekit.models.base import FAMILIES
from edgekit.models.loader import choose_family
from edgekit.models.yolov9 import FAMILY, build_model, get_arch, write_official_checkpoint

from .helpers import TINY, randomize

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "yolov9"


def fake_ckpt(obj: object) -> RawCheckpoint:
    return RawCheckpoint(path=Path("fake.pt"), sha256="0" * 64, obj=obj)


def model_record(cls: str, head: str) -> Record:
    yaml = {"nc": 2, "backbone": [[-1, 1, "Conv", [8, 3, 2]]], "head": [[[0], 1, head, ["nc"]]]}
    return Record(cls=cls, state={"_modules": {}, "_parameters": {}, "_buffers": {}, "yaml": yaml})


def test_registered() -> None:
    assert FAMILIES.get("yolov9") is FAMILY
    assert {"yolov9-c", "gelan-c", "yolov9-e", "gelan-t"} <= set(FAMILY.variants)


@pytest.mark.parametrize(
    "cls, head, score",
    [
        ("models.yolo.DetectionModel", "DualDDetect", 1.0),
        ("models.yolo.DetectionModel", "DDetect", 1.0),
        ("models.yolo.DetectionModel", "Segment", 0.3),  # a WongKinYiu model edgekit does not convert
        ("ultralytics.nn.tasks.DetectionModel", "Detect", 0.0),
        ("damo.detectors.detector.Detector", "ZeroHead", 0.0),
    ],
)
def test_score(cls: str, head: str, score: float) -> None:
    ckpt = fake_ckpt({"model": model_record(cls, head), "ema": None, "epoch": -1})
    assert FAMILY.score(ckpt) == score


def test_unsupported_head_is_a_user_error() -> None:
    ckpt = fake_ckpt({"model": model_record("models.yolo.DetectionModel", "Segment")})
    with pytest.raises(UnsupportedModelError, match="Segment"):
        FAMILY.load(ckpt)


def test_loader_chooses_yolov9_for_its_checkpoints() -> None:
    for name in ("tiny_v9c", "official_written_tiny_gelan"):
        assert choose_family(read_checkpoint(GOLDEN / f"{name}.pt")).name == "yolov9"


def test_model_info_of_a_pgi_checkpoint() -> None:
    loaded = FAMILY.load(read_checkpoint(GOLDEN / "tiny_v9c.pt"))
    info = loaded.info
    assert info.family == "yolov9" and info.variant == "yolov9-custom"
    assert info.names == ["cat", "dog", "bird"] and info.nc == 3 and info.head.nc == 3
    assert (info.head.bins, info.head.anchor_offset, info.head.strides) == (16, 0.5, (8, 16, 32))
    assert info.preprocess == PreprocessSpec(resize="letterbox", pad_value=114, color="RGB", scale=1 / 255)
    assert info.imgsz == (96, 96)  # from the training options stored in the checkpoint
    s = info.structures
    assert s.pgi_branch and s.dfl and s.rep_branches == 24 and s.conv_bn > s.rep_branches
    assert info.extra["head"] == "DualDDetect" and info.extra["main_layers"] == list(range(23))
    assert not loaded.model.training


def test_named_variant_from_yaml_and_arch_override(tmp_path: Path) -> None:
    model = randomize(build_model(get_arch("gelan-t"), nc=2), 0)
    path = write_official_checkpoint(model, tmp_path / "gelan-t.pt", ["a", "b"])
    ckpt = read_checkpoint(path)
    assert FAMILY.load(ckpt).info.variant == "gelan-t"
    assert FAMILY.load(ckpt, arch="gelan-t").info.variant == "gelan-t"
    with pytest.raises(UnsupportedModelError, match="holds a gelan-t"):
        FAMILY.load(ckpt, arch="gelan-s")


def test_bare_state_dict_matched_by_shapes(tmp_path: Path) -> None:
    sd = build_model(get_arch("gelan-t"), nc=3).state_dict()
    key = "model.22.cv3.2.2.weight"
    sd[key] = torch.randn(sd[key].shape)
    torch.save(sd, tmp_path / "sd.pt")
    ckpt = read_checkpoint(tmp_path / "sd.pt")
    assert FAMILY.score(ckpt) == 0.6
    loaded = FAMILY.load(ckpt)
    assert loaded.info.variant == "gelan-t" and loaded.info.nc == 3
    assert torch.equal(loaded.model.state_dict()[key], sd[key])


def test_bare_state_dict_that_fits_nothing(tmp_path: Path) -> None:
    arch, names = TINY["tiny_gelan"]
    torch.save(build_model(arch, nc=len(names)).state_dict(), tmp_path / "sd.pt")
    ckpt = read_checkpoint(tmp_path / "sd.pt")
    assert FAMILY.score(ckpt) == 0.0
    with pytest.raises(UnsupportedModelError, match="--arch"):
        FAMILY.load(ckpt)
    with pytest.raises(UnsupportedModelError, match="do not fit"):
        FAMILY.load(ckpt, arch="gelan-t")


def test_build_named_variants() -> None:
    loaded = FAMILY.build("yolov9-t", nc=5)
    s = loaded.info.structures
    assert loaded.info.variant == "yolov9-t" and loaded.info.nc == 5 and s.pgi_branch
    # yolov9-t: 9 RepNCSPELAN4 (3 backbone, 4 main neck, 2 aux neck) x 2 RepNCSP x 3 RepNBottleneck
    assert s.rep_branches == 54
    assert not FAMILY.build("gelan-t").info.structures.pgi_branch
    with pytest.raises(UnsupportedModelError, match="known"):
        FAMILY.build("yolov9-x")


def test_forward_returns_main_raw_convention() -> None:
    arch, names = TINY["tiny_v9t"]
    model = randomize(build_model(arch, nc=len(names)), 2).eval()
    with torch.no_grad():
        box, cls = model(torch.rand(2, 3, 64, 64))
    assert [tuple(t.shape) for t in box] == [(2, 64, 8, 8), (2, 64, 4, 4), (2, 64, 2, 2)]
    assert [tuple(t.shape) for t in cls] == [(2, 5, 8, 8), (2, 5, 4, 4), (2, 5, 2, 2)]
