"""The official-layout writer: what the pickle names, holds and how edgekit reads it back."""

from __future__ import annotations

import pickletools
import zipfile
from pathlib import Path
from typing import Set

import pytest
import torch

from edgekit.loading.checkpoint import iter_records, read_checkpoint
from edgekit.models.yolov9 import FAMILY, build_model, write_official_checkpoint
from edgekit.models.yolov9.writer import official_copy
from edgekit.verify import assert_equivalent

from .helpers import IMGSZ, TINY, randomize

OFFICIAL_KEYS = {"epoch", "best_fitness", "model", "ema", "updates", "optimizer", "opt", "git", "date"}


def tiny(name: str, seed: int):
    arch, names = TINY[name]
    return randomize(build_model(arch, nc=len(names)), seed), names


def pickle_globals(path: Path) -> Set[str]:
    with zipfile.ZipFile(path) as zf:
        data = zf.read(next(n for n in zf.namelist() if n.endswith("/data.pkl")))
    assert b"edgekit" not in data and b"_ek_" not in data
    return {str(arg) for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"}


def test_pickle_names_only_official_classes(tmp_path: Path) -> None:
    model, names = tiny("tiny_v9c", 0)
    path = write_official_checkpoint(model, tmp_path / "v9c.pt", names)
    found = pickle_globals(path)
    expected = {
        "models.yolo DetectionModel",
        "models.yolo DualDDetect",
        "models.common Silence",
        "models.common Conv",
        "models.common ADown",
        "models.common RepNCSPELAN4",
        "models.common RepNCSP",
        "models.common RepNBottleneck",
        "models.common RepConvN",
        "models.common SPPELAN",
        "models.common SP",
        "models.common Concat",
        "models.common CBLinear",
        "models.common CBFuse",
        "models.common DFL",
        "torch.nn.modules.container Sequential",
        "torch.nn.modules.container ModuleList",
        "torch.nn.modules.conv Conv2d",
        "torch.nn.modules.batchnorm BatchNorm2d",
        "torch.nn.modules.upsampling Upsample",
    }
    assert expected <= found
    assert not {g for g in found if g.startswith("models.")} - expected


def test_layout_dtypes_and_modes(tmp_path: Path) -> None:
    model, names = tiny("tiny_v9t", 0)
    ema, _ = tiny("tiny_v9t", 1)
    path = write_official_checkpoint(
        model, tmp_path / "t.pt", dict(enumerate(names)), ema=ema, epoch=5, opt={"imgsz": 320}
    )
    ckpt = read_checkpoint(path)
    assert set(ckpt.keys()) == OFFICIAL_KEYS and ckpt.get("epoch") == 5
    rec = ckpt.obj["model"]
    assert rec.cls == "models.yolo.DetectionModel" and rec.attr("training") is True
    assert ckpt.obj["ema"].attr("training") is False
    assert rec.attr("names") == dict(enumerate(names)) and rec.attr("nc") == len(names)
    assert rec.attr("yaml") == model.yaml
    layers = rec.attr("model").children()
    assert [layers[k].attr("i") for k in layers] == list(range(len(layers)))
    assert layers["4"].attr("type") == "models.common.RepNCSPELAN4" and layers["24"].attr("f") == [-1, 6]
    for _, node in iter_records(rec):
        for key, tensor in {**node.parameters(), **node.buffers()}.items():
            want = torch.int64 if key == "num_batches_tracked" else torch.float16
            assert tensor.dtype == want, key
        if node.cls.endswith("BatchNorm2d"):
            assert node.attr("eps") == 1e-3
    # the input model is untouched
    assert next(model.parameters()).dtype == torch.float32 and hasattr(model, "_ek_main_layers")


def test_round_trip_prefers_ema(tmp_path: Path) -> None:
    model, names = tiny("tiny_gelan", 3)
    ema, _ = tiny("tiny_gelan", 4)
    path = write_official_checkpoint(model, tmp_path / "g.pt", names, ema=ema)
    loaded = FAMILY.load(read_checkpoint(path))
    reference = official_copy(ema).float().eval()  # the weights rounded through FP16
    x = torch.rand(1, 3, *IMGSZ)
    with torch.no_grad():
        got, want, other = loaded.model(x), reference(x), official_copy(model).float().eval()(x)
    for a, b in zip(got[0] + got[1], want[0] + want[1]):
        assert_equivalent(a, b)
    assert not torch.allclose(got[1][0], other[1][0], atol=1e-3)


def test_stored_bn_eps_is_used(tmp_path: Path) -> None:
    model, names = tiny("tiny_gelan", 5)
    model.model[3].cv1.bn.eps = 1e-5
    loaded = FAMILY.load(read_checkpoint(write_official_checkpoint(model, tmp_path / "e.pt", names)))
    assert loaded.model.model[3].cv1.bn.eps == pytest.approx(1e-5)
    assert loaded.model.model[2].cv1.bn.eps == pytest.approx(1e-3)


def test_names_as_list_stay_a_list(tmp_path: Path) -> None:
    model, names = tiny("tiny_gelan", 6)
    ckpt = read_checkpoint(
        write_official_checkpoint(model, tmp_path / "n.pt", list(names), yaml_file="mine.yaml")
    )
    rec = ckpt.pick_model()
    assert rec.attr("names") == list(names) and rec.attr("yaml_file") == "mine.yaml"
    assert FAMILY.load(ckpt).info.names == list(names)
