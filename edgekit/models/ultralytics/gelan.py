"""GELAN blocks of the Ultralytics ``yolov9{t,s,m,c,e}`` models (``nn/modules/block.py`` names).

These are Ultralytics' re-implementation of YOLOv9's inference (GELAN) layout: no PGI branch.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from edgekit.models.base import split_channels
from edgekit.models.ultralytics.blocks import C3, Bottleneck
from edgekit.models.ultralytics.conv import Conv, RepConv, autopad


class RepBottleneck(Bottleneck):
    """Bottleneck whose first conv is a RepConv."""

    def __init__(
        self, c1: int, c2: int, shortcut: bool = True, g: int = 1, k: Tuple[int, int] = (3, 3), e: float = 0.5
    ) -> None:
        super().__init__(c1, c2, shortcut, g, k, e)
        self.cv1 = RepConv(c1, int(c2 * e), k[0], 1)


class RepCSP(C3):
    """C3 with RepBottlenecks."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5):
        super().__init__(c1, c2, n, shortcut, g, e)
        c_ = int(c2 * e)
        self.m = nn.Sequential(*(RepBottleneck(c_, c_, shortcut, g, e=1.0) for _ in range(n)))


class RepNCSPELAN4(nn.Module):
    """GELAN block: split, two (RepCSP + 3x3 conv) stages, concatenate."""

    def __init__(self, c1: int, c2: int, c3: int, c4: int, n: int = 1) -> None:
        super().__init__()
        self.c = c3 // 2
        self.cv1 = Conv(c1, c3, 1, 1)
        self.cv2: nn.Module = nn.Sequential(RepCSP(c3 // 2, c4, n), Conv(c4, c4, 3, 1))
        self.cv3: nn.Module = nn.Sequential(RepCSP(c4, c4, n), Conv(c4, c4, 3, 1))
        self.cv4 = Conv(c3 + 2 * c4, c2, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: List[torch.Tensor] = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in (self.cv2, self.cv3))
        return self.cv4(torch.cat(y, 1))


class ELAN1(RepNCSPELAN4):
    """The light GELAN block of yolov9t/s: plain 3x3 convs instead of RepCSP stages."""

    def __init__(self, c1: int, c2: int, c3: int, c4: int) -> None:
        super().__init__(c1, c2, c3, c4)
        self.c = c3 // 2
        self.cv1 = Conv(c1, c3, 1, 1)
        self.cv2 = Conv(c3 // 2, c4, 3, 1)
        self.cv3 = Conv(c4, c4, 3, 1)
        self.cv4 = Conv(c3 + 2 * c4, c2, 1, 1)


class AConv(nn.Module):
    """2x2 average pool (stride 1), then a strided 3x3 conv."""

    def __init__(self, c1: int, c2: int) -> None:
        super().__init__()
        self.cv1 = Conv(c1, c2, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv1(F.avg_pool2d(x, 2, 1, 0, False, True))


class ADown(nn.Module):
    """Average pool, then half the channels through a strided 3x3 conv, half through max-pool + 1x1."""

    def __init__(self, c1: int, c2: int) -> None:
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1 // 2, self.c, 3, 2, 1)
        self.cv2 = Conv(c1 // 2, self.c, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = F.avg_pool2d(x, 2, 1, 0, False, True).chunk(2, 1)
        return torch.cat((self.cv1(x1), self.cv2(F.max_pool2d(x2, 3, 2, 1))), 1)


class SPPELAN(nn.Module):
    """SPP with ELAN: 1x1 conv, three chained max-pools, concatenate, 1x1 conv."""

    def __init__(self, c1: int, c2: int, c3: int, k: int = 5) -> None:
        super().__init__()
        self.c = c3
        self.cv1 = Conv(c1, c3, 1, 1)
        self.cv2 = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)
        self.cv3 = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)
        self.cv4 = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)
        self.cv5 = Conv(4 * c3, c2, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        y.extend(m(y[-1]) for m in (self.cv2, self.cv3, self.cv4))
        return self.cv5(torch.cat(y, 1))


class CBLinear(nn.Module):
    """yolov9e: one conv whose output is split into several feature groups."""

    def __init__(
        self, c1: int, c2s: Sequence[int], k: int = 1, s: int = 1, p: Union[int, None] = None, g: int = 1
    ) -> None:
        super().__init__()
        self.c2s = list(c2s)
        self.conv = nn.Conv2d(c1, sum(self.c2s), k, s, autopad(k, p), groups=g, bias=True)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return split_channels(self.conv(x), self.c2s)


class CBFuse(nn.Module):
    """yolov9e: pick one group of each CBLinear input, resize (nearest) to the last input, sum."""

    def __init__(self, idx: Sequence[int]) -> None:
        super().__init__()
        self.idx = list(idx)

    def forward(self, xs: List[Union[Tuple[torch.Tensor, ...], torch.Tensor]]) -> torch.Tensor:
        last = xs[-1]
        assert isinstance(last, torch.Tensor)
        size = last.shape[2:]
        res = [F.interpolate(x[self.idx[i]], size=size, mode="nearest") for i, x in enumerate(xs[:-1])]
        return torch.sum(torch.stack([*res, last]), dim=0)
