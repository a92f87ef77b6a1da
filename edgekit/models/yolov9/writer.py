"""Write an edgekit YOLOv9 model as a checkpoint in the official WongKinYiu layout.

The official training loop saves ``{'epoch', 'best_fitness', 'model', 'ema', 'updates',
'optimizer', 'opt', 'git', 'date'}`` where ``model`` / ``ema`` are whole pickled
``models.yolo.DetectionModel`` objects in FP16. This writer pickles edgekit's modules
under the official class names (``_official_path`` of each class), keeping the module
``__dict__`` the official classes expect and dropping edgekit-only ``_ek_*`` attributes,
so the official code can ``torch.load`` the file and edgekit's safe reader sees the same
records as in a real training checkpoint. Nothing of the official code is imported.
"""

from __future__ import annotations

import copy
import copyreg
import pickle
import types
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from edgekit.models.yolov9.build import YoloV9Model
from edgekit.models.yolov9.modules import DFL

Names = Union[Sequence[str], Mapping[int, str]]


def _official_path(cls: type) -> Optional[str]:
    """The official ``module.Class`` of an edgekit class, None for anything else."""
    if not cls.__module__.startswith("edgekit."):
        return None
    return vars(cls).get("_official_path")


class OfficialPickler(pickle._Pickler):  # the pure-Python pickler exposes save_global
    """Pickles edgekit YOLOv9 modules as their official counterparts."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, nn.Module) and _official_path(type(obj)):
            state = {k: v for k, v in obj.__dict__.items() if not k.startswith("_ek_")}
            return copyreg.__newobj__, (type(obj),), state
        return NotImplemented

    def save_global(self, obj: Any, name: Optional[str] = None) -> None:
        path = _official_path(obj) if isinstance(obj, type) else None
        if path is None:
            super().save_global(obj, name)
            return
        module, _, qualname = path.rpartition(".")
        if self.proto >= 4:
            self.save(module)
            self.save(qualname)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode())
        self.memoize(obj)


OFFICIAL_PICKLE = types.ModuleType("edgekit_official_pickle")  # a ``pickle_module`` for torch.save
OFFICIAL_PICKLE.Pickler = OfficialPickler  # type: ignore[attr-defined]


def official_copy(model: YoloV9Model, names: Optional[Names] = None, train: bool = False) -> YoloV9Model:
    """An FP16 deep copy with the attributes an official ``DetectionModel`` carries after training."""
    m = copy.deepcopy(model).half().train(train)
    head = m.head
    head.stride = head.stride.half()  # the official _apply() casts the head's tensors too
    head.anchors = torch.empty(0).half()
    head.strides = torch.empty(0).half()
    m.requires_grad_(train)
    for module in m.modules():
        if isinstance(module, DFL):
            module.requires_grad_(False)  # the integral conv is frozen
    if names is not None:
        m.names = dict(names) if isinstance(names, Mapping) else list(names)
        m.nc = len(m.names)
    return m


def write_official_checkpoint(
    model: YoloV9Model,
    path: Union[str, Path],
    names: Optional[Names] = None,
    *,
    ema: Optional[YoloV9Model] = None,
    epoch: int = -1,
    opt: Optional[Dict[str, Any]] = None,
    date: Optional[str] = None,
    yaml_file: Optional[str] = None,
) -> Path:
    """Save ``model`` (and ``ema``, preferred by every loader) as an official YOLOv9 ``.pt``.

    ``names`` may be a list or a dict {index: name} (the official trainer stores the dict).
    ``epoch=-1`` with no optimizer is the layout of a finished (stripped) training run.
    """
    saved_model = official_copy(model, names, train=True)
    saved_ema = official_copy(ema, names, train=False) if ema is not None else None
    for m in (saved_model, saved_ema):
        if m is not None and yaml_file:
            m.yaml_file = yaml_file
    ckpt = {
        "epoch": epoch,
        "best_fitness": None,
        "model": saved_model,
        "ema": saved_ema,
        "updates": None,
        "optimizer": None,
        "opt": dict(opt or {}),
        "git": None,
        "date": date or datetime.now().isoformat(),
    }
    path = Path(path)
    torch.save(ckpt, path, pickle_module=OFFICIAL_PICKLE)
    return path
