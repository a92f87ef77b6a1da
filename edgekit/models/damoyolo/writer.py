"""Write a model as an official DAMO-YOLO checkpoint.

Layout of ``Trainer.save_ckpt`` in ``tinyvision/DAMO-YOLO``: a ``torch.save``d dict
``{'epoch': int, 'model': state_dict, 'optimizer': ..., 'feature_loss': ...}``. The official
demo/converter/eval code reads it with ``model.load_state_dict(ckpt['model'])``. Only plain
containers and tensors are written, so ``torch.load(..., weights_only=True)`` reads it.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch
from torch import nn


def official_state_dict(model: nn.Module) -> OrderedDict[str, torch.Tensor]:
    """The model's state dict as detached, contiguous CPU tensors (keys unchanged)."""
    return OrderedDict((k, v.detach().cpu().contiguous().clone()) for k, v in model.state_dict().items())


def write_official_checkpoint(
    model: nn.Module,
    path: Union[str, Path],
    epoch: int = 0,
    optimizer: Optional[Dict[str, Any]] = None,
    feature_loss: Optional[Dict[str, torch.Tensor]] = None,
) -> Path:
    """Save ``model`` (an edgekit ``DamoYolo`` in train-time form) in the official layout.

    ``optimizer`` is an optimizer state dict (``None`` when there is none to keep);
    ``feature_loss`` the distillation module's state dict (``None`` without distillation,
    as the official trainer writes it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {
        "epoch": int(epoch),
        "model": official_state_dict(model),
        "optimizer": optimizer,
        "feature_loss": feature_loss,
    }
    torch.save(ckpt, path)
    return path
