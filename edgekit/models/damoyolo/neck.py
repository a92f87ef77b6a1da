"""``GiraffeNeckV2`` (RepGFPN) of DAMO-YOLO with its ``CSPStage`` / ``BasicBlock_3x3_Reverse``."""

from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from edgekit.models.damoyolo.nano import DepthwiseBlock, DepthwiseConv
from edgekit.models.damoyolo.ops import ConvBNAct, RepConv


class BasicBlock3x3Reverse(nn.Module):
    """``x + conv1(conv2(x))`` with ``conv2`` a RepConv (to the hidden width) and ``conv1`` a 3x3 conv."""

    def __init__(self, ch: int, hidden_ratio: float, act: str) -> None:
        super().__init__()
        hidden = int(ch * hidden_ratio)
        self.conv1 = ConvBNAct(hidden, ch, 3, act=act)
        self.conv2 = RepConv(ch, hidden, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv1(self.conv2(x))


class CSPStage(nn.Module):
    """Split into two 1x1 branches, chain ``n`` blocks on one, concat every output, 1x1 fuse."""

    def __init__(
        self, cin: int, hidden_ratio: float, cout: int, n: int, act: str, depthwise: bool = False
    ) -> None:
        super().__init__()
        first = cout // 2
        mid = cout - first
        self.conv1 = ConvBNAct(cin, first, 1, act=act)
        self.conv2 = ConvBNAct(cin, mid, 1, act=act)
        blocks = [
            DepthwiseBlock(mid, act) if depthwise else BasicBlock3x3Reverse(mid, hidden_ratio, act)
            for _ in range(n)
        ]
        self.convs = nn.Sequential(*blocks)
        self.conv3 = ConvBNAct(mid * n + first, cout, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [self.conv1(x)]
        y = self.conv2(x)
        for block in self.convs:
            y = block(y)
            outs.append(y)
        return self.conv3(torch.cat(outs, 1))


class GiraffeNeckV2(nn.Module):
    """Fuses backbone features (P3, P4, P5) into the three head inputs (P3, P4, P5)."""

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: Sequence[int],
        depth: float = 1.0,
        hidden_ratio: float = 1.0,
        act: str = "relu",
        depthwise: bool = False,
    ) -> None:
        super().__init__()
        c0, c1, c2 = in_channels
        o0, o1, o2 = out_channels
        n = round(3 * depth)

        def down(c: int) -> nn.Module:
            return DepthwiseConv(c, c, 3, 2, act) if depthwise else ConvBNAct(c, c, 3, 2, act=act)

        def merge(cin: int, cout: int) -> CSPStage:
            return CSPStage(cin, hidden_ratio, cout, n, act, depthwise)

        self.bu_conv13 = down(c1)
        self.merge_3 = merge(c1 + c2, c2)
        self.bu_conv24 = down(c0)
        self.merge_4 = merge(c0 + c1 + c2, c1)
        self.merge_5 = merge(c1 + c0, o0)
        self.bu_conv57 = down(o0)
        self.merge_7 = merge(o0 + c1, o1)
        self.bu_conv46 = down(c1)
        self.bu_conv76 = down(o1)
        self.merge_6 = merge(c1 + o1 + c2, o2)

    @staticmethod
    def _up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="nearest")

    def forward(self, feats: List[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x2, x1, x0 = feats
        x3 = self.merge_3(torch.cat([x0, self.bu_conv13(x1)], 1))
        x4 = self.merge_4(torch.cat([x1, self.bu_conv24(x2), self._up(x3)], 1))
        x5 = self.merge_5(torch.cat([x2, self._up(x4)], 1))
        x7 = self.merge_7(torch.cat([x4, self.bu_conv57(x5)], 1))
        x6 = self.merge_6(torch.cat([x3, self.bu_conv46(x4), self.bu_conv76(x7)], 1))
        return x5, x7, x6
