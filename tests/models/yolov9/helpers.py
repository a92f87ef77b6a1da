"""Narrow YOLOv9 architectures for golden and unit tests (full structure, few channels)."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Tuple

import torch
from torch import nn

from edgekit.models.yolov9.archs import layer_rows, medium_arch, small_arch


def _set_repeats(arch: Dict[str, Any], layer: int, c5: int) -> Dict[str, Any]:
    """Set the RepNCSP repeat count (the 4th RepNCSPELAN4 argument) of one block."""
    row = layer_rows(arch)[layer]
    assert row[2] == "RepNCSPELAN4"
    row[3][3] = c5
    return arch


def tiny_v9t() -> Dict[str, Any]:
    """yolov9-t layout at quarter width (some widths round up to 8, as the official parser does).

    RepNCSP repeats are 1 (3 in yolov9-t) except layer 4 (2 bottlenecks), to keep the file small.
    """
    arch = small_arch(4, pgi=True)
    for row in layer_rows(arch):
        if row[2] == "RepNCSPELAN4":
            row[3][3] = 1
    return _set_repeats(arch, 4, 2)


def _narrow_medium(down: str, pgi: bool) -> Dict[str, Any]:
    return medium_arch(
        stem=(8, 16),
        blocks=[[16, 16, 8, 1], [16, 16, 8, 1], [24, 24, 12, 1], [32, 32, 16, 1]],
        down=down,
        downs=[16, 24, 32],
        spp=[32, 16],
        head_blocks=[[24, 24, 12, 1], [16, 16, 8, 1], [24, 24, 12, 1], [32, 32, 16, 1]],
        head_downs=[16, 16],
        pgi=pgi,
    )


def tiny_v9c() -> Dict[str, Any]:
    """yolov9-c layout (Silence, ADown, CBLinear/CBFuse second backbone), P3-P5 widths 16/24/32."""
    return _narrow_medium("ADown", pgi=True)


def tiny_gelan() -> Dict[str, Any]:
    """gelan-m layout (AConv stages) with a LeakyReLU ``activation`` entry, widths 16/24/32."""
    arch = _narrow_medium("AConv", pgi=False)
    arch["activation"] = "nn.LeakyReLU(0.1)"
    return arch


# name -> (architecture, class names)
TINY: Dict[str, Tuple[Dict[str, Any], List[str]]] = {
    "tiny_v9t": (tiny_v9t(), [f"t{i}" for i in range(5)]),
    "tiny_v9c": (tiny_v9c(), ["cat", "dog", "bird"]),
    "tiny_gelan": (tiny_gelan(), [f"g{i}" for i in range(6)]),
}
IMGSZ = (64, 96)  # (height, width): non-square on purpose


def randomize(model: nn.Module, seed: int, head_gain: float = 6.0) -> nn.Module:
    """Random weights and random BN statistics/affine (default BN would hide eps/fusion errors)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".dfl" in name:
                continue  # the frozen DFL integral keeps its 0..15 weights
            fan_in = p[0].numel() if p.dim() > 1 else 1
            scale = (1.0 / fan_in) ** 0.5 if p.dim() > 1 else 0.5
            if re.search(r"\.cv[2-5]\.\d+\.2\.", name):  # the heads' final 1x1 convs: spread the logits
                scale *= head_gain
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.2)
                m.num_batches_tracked.fill_(100)
    return model
