"""PResNet, RT-DETRv2's ResNet-vd backbone (lyuwenyu/RT-DETR ``rtdetrv2_pytorch/src/nn/backbone/
presnet.py``), with the official parameter names: ``conv1.conv1_{1,2,3}``, ``res_layers.<i>.blocks.<j>``
of ``branch2a/b[/c]`` and ``short``. Frozen BatchNorms (``freeze_norm``) are plain ``BatchNorm2d``
here: same buffers, same eps (1e-5), same arithmetic in eval mode.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

#: blocks per stage of each depth; BasicBlock below 50, BottleNeck from 50
DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
WIDTHS = (64, 128, 256, 512)


class ConvNormLayer(nn.Module):
    """Conv (no bias unless asked) -> BatchNorm -> activation (keys ``conv``, ``norm``)."""

    def __init__(self, c1: int, c2: int, k: int, s: int, act: bool = False, padding: int = -1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, (k - 1) // 2 if padding < 0 else padding, bias=False)
        self.norm = nn.BatchNorm2d(c2)
        self.act: nn.Module = nn.ReLU() if act else nn.Identity()

    def conv_bn_pairs(self) -> Sequence[Tuple[str, str]]:
        return [("conv", "norm")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


def shortcut(c1: int, c2: int, stride: int, variant: str) -> nn.Module:
    """The projection shortcut: ResNet-vd averages 2x2 then projects, where the block strides."""
    if variant == "d" and stride == 2:
        return nn.Sequential(
            OrderedDict(
                [("pool", nn.AvgPool2d(2, 2, 0, ceil_mode=True)), ("conv", ConvNormLayer(c1, c2, 1, 1))]
            )
        )
    return ConvNormLayer(c1, c2, 1, stride)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, c1: int, c2: int, stride: int, identity: bool, variant: str = "d") -> None:
        super().__init__()
        self.shortcut = identity
        if not identity:
            self.short = shortcut(c1, c2, stride, variant)
        self.branch2a = ConvNormLayer(c1, c2, 3, stride, act=True)
        self.branch2b = ConvNormLayer(c2, c2, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branch2b(self.branch2a(x))
        return F.relu(out + (x if self.shortcut else self.short(x)))


class BottleNeck(nn.Module):
    expansion = 4

    def __init__(self, c1: int, c2: int, stride: int, identity: bool, variant: str = "d") -> None:
        super().__init__()
        s1, s2 = (stride, 1) if variant == "a" else (1, stride)
        self.branch2a = ConvNormLayer(c1, c2, 1, s1, act=True)
        self.branch2b = ConvNormLayer(c2, c2, 3, s2, act=True)
        self.branch2c = ConvNormLayer(c2, c2 * 4, 1, 1)
        self.shortcut = identity
        if not identity:
            self.short = shortcut(c1, c2 * 4, stride, variant)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branch2c(self.branch2b(self.branch2a(x)))
        return F.relu(out + (x if self.shortcut else self.short(x)))


class Blocks(nn.Module):
    def __init__(self, block: type, c1: int, c2: int, count: int, stage: int, variant: str) -> None:
        super().__init__()
        self.blocks = nn.ModuleList()
        for i in range(count):
            stride = 2 if i == 0 and stage != 2 else 1
            self.blocks.append(block(c1, c2, stride, identity=i > 0, variant=variant))
            c1 = c2 * block.expansion

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class PResNet(nn.Module):
    """ResNet-vd: a three-conv stem, max pool, four stages; returns the stages in ``return_idx``."""

    def __init__(
        self, depth: int, variant: str = "d", return_idx: Sequence[int] = (1, 2, 3), num_stages: int = 4
    ) -> None:
        super().__init__()
        stem = 64
        if variant in ("c", "d"):
            rows = [(3, stem // 2, 3, 2, "conv1_1"), (stem // 2, stem // 2, 3, 1, "conv1_2")]
            rows.append((stem // 2, stem, 3, 1, "conv1_3"))
        else:
            rows = [(3, stem, 7, 2, "conv1_1")]
        self.conv1 = nn.Sequential(
            OrderedDict([(n, ConvNormLayer(a, b, k, s, act=True)) for a, b, k, s, n in rows])
        )
        block = BottleNeck if depth >= 50 else BasicBlock
        self.res_layers = nn.ModuleList()
        c1 = stem
        for i, count in enumerate(DEPTHS[depth][:num_stages]):
            self.res_layers.append(Blocks(block, c1, WIDTHS[i], count, i + 2, variant))
            c1 = WIDTHS[i] * block.expansion
        self.return_idx = list(return_idx)
        self.out_channels = [WIDTHS[i] * block.expansion for i in self.return_idx]

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        x = F.max_pool2d(self.conv1(x), kernel_size=3, stride=2, padding=1)
        outs = []
        for i, stage in enumerate(self.res_layers):
            x = stage(x)
            if i in self.return_idx:
                outs.append(x)
        return outs
