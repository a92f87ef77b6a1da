"""Depthwise parts of DAMO-YOLO-Nano (Ns/Nm/Nl): ``TinyNAS_mob`` and the depthwise neck blocks.

Module trees follow the official ``tinynas_mob.py`` and ``core/ops.py`` (``MobileV3Block``,
``DepthwiseConv``) so official state dicts load strictly. No RepConv here: Nano has no
re-parameterizable branches.
"""

from __future__ import annotations

import math
from typing import List, Tuple

import torch
from torch import nn

from edgekit.models.damoyolo.archs import DamoArch, Stage
from edgekit.models.damoyolo.ops import BlockStage, ConvKXBNAct, Focus, activation


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round to a multiple of ``divisor`` (at least ``divisor``), never more than 10% down."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class MobileV3Block(nn.Module):
    """1x1 expand -> BN -> act -> 5x5 depthwise -> BN -> [Identity] -> act -> 1x1 project -> BN.

    ``with_se_slot`` keeps the backbone variant's ``nn.Identity`` SE placeholder (index 5), which
    shifts the indices of the later layers; the neck variant has no such slot.
    """

    def __init__(self, cin: int, cout: int, stride: int, expand: float, act: str, with_se_slot: bool) -> None:
        super().__init__()
        width = make_divisible(math.ceil(cout * expand))
        layers: List[nn.Module] = [
            nn.Conv2d(cin, width, 1, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            activation(act),
            nn.Conv2d(width, width, 5, stride, 2, bias=False, groups=width),
            nn.BatchNorm2d(width),
        ]
        if with_se_slot:
            layers.append(nn.Identity())
        layers += [activation(act), nn.Conv2d(width, cout, 1, 1, 0, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.use_shortcut = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.use_shortcut else y


class DepthwiseConv(nn.Module):
    """Depthwise kxk -> BN -> act -> pointwise 1x1 -> BN -> act (the neck's downsampling conv)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, act: str) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, k, stride, (k - 1) // 2, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, 1, 0, bias=False)
        self.dwnorm = nn.BatchNorm2d(cin)
        self.pwnorm = nn.BatchNorm2d(cout)
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.dwnorm(self.depthwise(x)))
        return self.act(self.pwnorm(self.pointwise(x)))

    def conv_bn_pairs(self) -> List[Tuple[str, str]]:
        return [("depthwise", "dwnorm"), ("pointwise", "pwnorm")]


class DepthwiseBlock(nn.Module):
    """Official ``BasicBlock_3x3_Reverse(depthwise=True)``: a ``MobileV3Block`` (expand 3.0)."""

    def __init__(self, ch: int, act: str) -> None:
        super().__init__()
        self.conv = MobileV3Block(ch, ch, 1, 3.0, act, with_se_slot=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class MobStage(BlockStage):
    """Official ``SuperResStem`` of ``TinyNAS_mob`` (expand 3.5 + 0.5 * (position - 1))."""

    def __init__(self, stage: Stage, position: int, act: str, with_spp: bool) -> None:
        expand = 3.5 + (position - 1) * 0.5

        def block(cin: int, stride: int) -> nn.Module:
            return MobileV3Block(cin, stage.cout, stride, expand, act, with_se_slot=True)

        super().__init__(stage, with_spp, block)


class TinyNASMob(nn.Module):
    """``TinyNAS_mob``: stride-2 stem conv (or Focus) + five MobileV3 stages."""

    def __init__(self, arch: DamoArch) -> None:
        super().__init__()
        self.out_indices = arch.out_indices
        if arch.use_focus:
            stem: nn.Module = Focus(3, arch.stem_out, arch.stem_k, act=arch.backbone_act)
        else:
            stem = ConvKXBNAct(3, arch.stem_out, arch.stem_k, 2, act=arch.backbone_act)
        last = len(arch.stages) - 1
        stages = [
            MobStage(s, i + 1, arch.backbone_act, arch.with_spp and i == last)
            for i, s in enumerate(arch.stages)
        ]
        self.block_list = nn.ModuleList([stem, *stages])

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        feats = []
        for i, block in enumerate(self.block_list):
            x = block(x)
            if i in self.out_indices:
                feats.append(x)
        return feats
