"""Fixtures for checkpoint tests: real files written by torch.save of real objects.

Foreign classes (``ultralytics.nn.tasks.DetectionModel``, ``models.common.RepConvN``) are
defined here and pickled by reference under a fake module name that exists in
``sys.modules`` only while saving, so the reader can never import them.
"""

from __future__ import annotations

import copy
import sys
import types
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from edgekit.contract.model import HeadSpec, LoadedModel, ModelInfo, TrainStructures
from edgekit.errors import InputFileError
from edgekit.loading.checkpoint import RawCheckpoint, Record
from edgekit.models.base import FAMILIES, Family

torch = pytest.importorskip("torch")
nn = torch.nn


@contextmanager
def fake_modules(mapping: Dict[str, List[type]]) -> Iterator[None]:
    """Expose ``classes`` under the module names of ``mapping`` while the block runs."""
    saved = {}
    names = set()
    for module in mapping:
        parts = module.split(".")
        names.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    for name in sorted(names):
        saved[name] = sys.modules.get(name)
        sys.modules[name] = types.ModuleType(name)
    originals = {}
    for module, classes in mapping.items():
        for cls in classes:
            originals[cls] = (cls.__module__, cls.__qualname__)
            cls.__module__, cls.__qualname__ = module, cls.__name__
            setattr(sys.modules[module], cls.__name__, cls)
    try:
        yield
    finally:
        for cls, (module, qualname) in originals.items():
            cls.__module__, cls.__qualname__ = module, qualname
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BN statistics and affine parameters (default BN would hide eps/fusion errors)."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen))
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.randn(n, generator=gen))
            m.bias.data.copy_(torch.randn(n, generator=gen))
            m.num_batches_tracked.fill_(7)
    return model


class Conv(nn.Module):
    """Conv + BN (eps 1e-3) + SiLU with Ultralytics-style layer attributes."""

    def __init__(self, c1: int, c2: int, k: int = 3, i: int = 0, f: int = -1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3)
        self.act = nn.SiLU()
        self.i, self.f, self.type = i, f, "ultralytics.nn.modules.conv.Conv"
        self.np = sum(p.numel() for p in self.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class RepConvN(nn.Module):
    """3x3 conv+BN and 1x1 conv+BN branches; ``bn`` (identity) is None."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = Conv(c, c, 3)
        self.conv2 = Conv(c, c, 1)
        self.bn = None
        self.register_buffer("scratch", torch.zeros(1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1(x) + self.conv2(x)


class DFL(nn.Module):
    def __init__(self, c1: int = 16) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1)


class DetectionModel(nn.Module):
    def __init__(self, nc: int = 3) -> None:
        super().__init__()
        self.model = nn.Sequential(Conv(3, 8, 3, i=0), RepConvN(8), DFL())
        self.model[1].i, self.model[1].f = 1, -1
        self.yaml = {"nc": nc, "backbone": [[-1, 1, "Conv", [8, 3, 2]]], "head": []}
        self.names = {i: f"class{i}" for i in range(nc)}
        self.stride = torch.tensor([8.0, 16.0, 32.0])
        self.nc = nc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model[1](self.model[0](x))


class IterableSimpleNamespace(types.SimpleNamespace):
    pass


class v8DetectionLoss:
    """The loss object Ultralytics leaves on ``model.criterion`` in train-time checkpoints."""

    def __init__(self, model: nn.Module) -> None:
        self.hyp = {"box": 7.5}
        self.device = torch.device("cpu")
        self.proj = torch.arange(16, dtype=torch.float)
        self.bce = nn.BCEWithLogitsLoss(reduction="none")
        self.meta = metadata_holder()


class metadata_holder:
    """An all-lower-case class name: NEWOBJ makes it a Record although it looks like a function."""

    def __init__(self) -> None:
        self.source = "train"


FOREIGN = {
    "ultralytics.nn.tasks": [DetectionModel],
    "ultralytics.nn.modules.conv": [Conv, RepConvN],
    "ultralytics.nn.modules.block": [DFL],
    "ultralytics.utils": [IterableSimpleNamespace],
    "ultralytics.utils.loss": [v8DetectionLoss, metadata_holder],
}


def make_model(seed: int) -> DetectionModel:
    torch.manual_seed(seed)
    return randomize_bn(DetectionModel(), seed).eval()


def save_foreign(path: Path, obj: object, **kwargs: object) -> Path:
    with fake_modules(FOREIGN):
        torch.save(obj, path, **kwargs)
    return path


def write_torch_zip(path: Path, data_pkl: bytes, records: Optional[Dict[str, bytes]] = None) -> Path:
    """A torch-style zip checkpoint with a hand-made ``data.pkl`` (for hostile payloads)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        records = {"byteorder": b"little", "version": b"3\n", **(records or {})}
        zf.writestr("archive/data.pkl", data_pkl)
        for name, data in records.items():
            zf.writestr(f"archive/{name}", data)
    return path


def _with_criterion(model: DetectionModel) -> DetectionModel:
    model.criterion = v8DetectionLoss(model)
    model.args = IterableSimpleNamespace(task="detect", imgsz=640)
    return model


@pytest.fixture
def ultra_ckpt(tmp_path: Path) -> Dict[str, object]:
    """An Ultralytics-like checkpoint: FP16 ``model`` and a different FP16 ``ema``."""
    model, ema = make_model(1), make_model(2)
    import numpy as np

    obj = {
        "date": "2025-01-01T00:00:00",
        "version": "8.3.0",
        "model": copy.deepcopy(model).half(),
        "ema": _with_criterion(copy.deepcopy(ema).half()),
        "updates": 10,
        "train_args": {"imgsz": 640, "lr0": np.float64(0.01), "hist": np.arange(3, dtype=np.int32)},
        "args_ns": IterableSimpleNamespace(task="detect", imgsz=640),
        "save_dir": Path("/runs/detect/train"),
    }
    path = save_foreign(tmp_path / "ultra.pt", obj)
    return {"path": path, "model": model, "ema": ema}


# ------------------------------------------------------------------ tiny test families
class _TinyFamily(Family):
    """Loads the conftest ``DetectionModel`` from its record (as a real family would)."""

    name = "tinytest"
    variants = ("tiny-a", "tiny-b")
    record_class = "ultralytics.nn.tasks.DetectionModel"

    def score(self, ckpt: RawCheckpoint) -> float:
        try:
            rec = ckpt.pick_model()
        except InputFileError:
            return 0.0
        return 1.0 if isinstance(rec, Record) and rec.cls == self.record_class else 0.0

    def load(self, ckpt: RawCheckpoint, arch: Optional[str] = None) -> LoadedModel:
        rec = ckpt.pick_model()
        model = DetectionModel(nc=int(rec.attr("nc")))
        model.load_state_dict(ckpt.state_dict())
        return LoadedModel(model.eval(), self._info(rec.attr("names"), arch))

    def build(self, arch: str, nc: int = 80) -> LoadedModel:
        return LoadedModel(DetectionModel(nc=nc).eval(), self._info({i: str(i) for i in range(nc)}, arch))

    def _info(self, names: dict, arch: Optional[str]) -> ModelInfo:
        return ModelInfo(
            family=self.name,
            variant=arch or "tiny-a",
            names=[names[i] for i in sorted(names)],
            head=HeadSpec(nc=len(names)),
            imgsz=(64, 64),
            imgsz_recorded=True,
            structures=TrainStructures(rep_branches=1, conv_bn=3, dfl=True),
        )


class _OtherFamily(_TinyFamily):
    name = "tinyother"
    variants = ("other-x",)
    record_class = "otherpkg.Net"


@contextmanager
def registered_tiny_families() -> Iterator[None]:
    """Register the two test families in ``FAMILIES``; removed again afterwards."""
    fams = [_TinyFamily(), _OtherFamily()]
    for fam in fams:
        FAMILIES.register(fam.name)(fam)
    try:
        yield
    finally:
        for fam in fams:
            FAMILIES._items.pop(fam.name, None)


@pytest.fixture
def tiny_families() -> Iterator[None]:
    with registered_tiny_families():
        yield
