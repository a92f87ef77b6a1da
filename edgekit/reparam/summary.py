"""Model figures for ``edgekit inspect``: parameters, GFLOPs, the steps ``convert`` applies."""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Tuple, Union

from edgekit.contract.model import ModelInfo, TrainStructures

if TYPE_CHECKING:
    import torch

FLOPS_CONVENTION = "2 x multiply-accumulates of convolutions and matmuls (the Ultralytics convention)"


def count_params(model: torch.nn.Module, buffers: bool = False) -> int:
    """Number of parameter elements (plus buffer elements with ``buffers=True``)."""
    total = sum(p.numel() for p in model.parameters())
    if buffers:
        total += sum(b.numel() for b in model.buffers())
    return int(total)


def _hw(imgsz: Union[int, Tuple[int, int]]) -> Tuple[int, int]:
    if isinstance(imgsz, int):
        return imgsz, imgsz
    h, w = imgsz
    return int(h), int(w)


def gflops(model: torch.nn.Module, imgsz: Union[int, Tuple[int, int]] = 640) -> float:
    """GFLOPs of one forward pass on a ``1x3xHxW`` input (see ``FLOPS_CONVENTION``)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    h, w = _hw(imgsz)
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None else torch.float32
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(torch.zeros(1, 3, h, w, dtype=dtype))
    finally:
        model.train(was_training)
    return counter.get_total_flops() / 1e9


def reparam_steps(structures: TrainStructures) -> List[str]:
    """What ``convert`` will do to the train-time structures, in order."""
    s = structures
    steps: List[str] = []
    if s.pgi_branch:
        steps.append("drop the PGI auxiliary branch and its head (keep the main branch, renumber layers)")
    if s.one_to_many_head:
        steps.append("drop the one-to-many head branch (export the NMS-free one-to-one head)")
    if s.train_only_head:
        steps.append(f"drop {s.train_only_head} head module(s) only the training loss reads")
    if s.distillation_leftovers:
        steps.append("drop distillation leftovers (teacher/align layers)")
    if s.rep_branches:
        steps.append(f"fuse {s.rep_branches} multi-branch RepConv module(s) into single convolutions")
    if s.conv_bn:
        steps.append(f"fold {s.conv_bn} BatchNorm layer(s) into their convolutions")
    if s.scale_modules:
        steps.append(f"fold {s.scale_modules} per-level Scale factor(s) into the box regression convolutions")
    return steps


def structure_rows(info: ModelInfo) -> List[Tuple[str, str]]:
    """(label, value) rows describing the train-time structures present."""
    s = info.structures
    bins = info.head.bins

    def yes(flag: bool) -> str:
        return "yes" if flag else "no"

    return [
        ("PGI auxiliary branch", yes(s.pgi_branch)),
        ("multi-branch RepConvs", str(s.rep_branches)),
        ("Conv+BN pairs", str(s.conv_bn)),
        ("DFL", f"yes ({bins} bins)" if s.dfl else "no"),
        ("one-to-many head", yes(s.one_to_many_head)),
        ("training-only head parts", str(s.train_only_head)),
        ("distillation leftovers", yes(s.distillation_leftovers)),
        ("per-level Scale", str(s.scale_modules)),
    ]
