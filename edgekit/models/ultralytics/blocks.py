"""CSP blocks of YOLOv8 / YOLOv10 / YOLO11 / YOLO26 (Ultralytics ``nn/modules/block.py`` names).

Attribute names, construction order and channel arithmetic match the Ultralytics modules so
state dicts load with ``strict=True``; the forward passes compute the same functions.
"""

from __future__ import annotations

from typing import List, Tuple

import torch
from torch import nn

from edgekit.models.ultralytics.conv import Conv


class Bottleneck(nn.Module):
    """Two convs (kernels ``k``) with an optional residual."""

    def __init__(
        self, c1: int, c2: int, shortcut: bool = True, g: int = 1, k: Tuple[int, int] = (3, 3), e: float = 0.5
    ) -> None:
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, k[0], 1)
        self.cv2 = Conv(c_, c2, k[1], 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP with two convs: split, a chain of bottlenecks, concatenate every intermediate."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False, g: int = 1, e: float = 0.5):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, g, k=(3, 3), e=1.0) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: List[torch.Tensor] = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class C3(nn.Module):
    """CSP bottleneck with three convs."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m: nn.Module = nn.Sequential(
            *(Bottleneck(c_, c_, shortcut, g, k=(1, 3), e=1.0) for _ in range(n))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class C3k(C3):
    """C3 whose bottlenecks use k x k kernels."""

    def __init__(
        self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5, k: int = 3
    ) -> None:
        super().__init__(c1, c2, n, shortcut, g, e)
        c_ = int(c2 * e)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, k=(k, k), e=1.0) for _ in range(n)))


class C3k2(C2f):
    """C2f whose inner blocks are Bottleneck, C3k (``c3k``) or Bottleneck + PSABlock (``attn``, YOLO26)."""

    def __init__(
        self,
        c1: int,
        c2: int,
        n: int = 1,
        c3k: bool = False,
        e: float = 0.5,
        attn: bool = False,
        g: int = 1,
        shortcut: bool = True,
    ) -> None:
        from edgekit.models.ultralytics.attention import PSABlock

        super().__init__(c1, c2, n, shortcut, g, e)
        c = self.c

        def inner() -> nn.Module:
            if attn:
                psa = PSABlock(c, attn_ratio=0.5, num_heads=max(c // 64, 1))
                return nn.Sequential(Bottleneck(c, c, shortcut, g), psa)
            return C3k(c, c, 2, shortcut, g) if c3k else Bottleneck(c, c, shortcut, g)

        self.m = nn.ModuleList(inner() for _ in range(n))


class SPPF(nn.Module):
    """Spatial pyramid pooling (fast): ``n`` chained max-pools, concatenated, optional residual (YOLO26)."""

    def __init__(self, c1: int, c2: int, k: int = 5, n: int = 3, shortcut: bool = False) -> None:
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1, act=False)  # activated for legacy yaml rows, see build.py
        self.cv2 = Conv(c_ * (n + 1), c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)
        self.n = n
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        y.extend(self.m(y[-1]) for _ in range(self.n))
        out = self.cv2(torch.cat(y, 1))
        return out + x if self.add else out


class SCDown(nn.Module):
    """YOLOv10 spatial-channel decoupled downsampling: 1x1 conv, then a depth-wise strided conv."""

    def __init__(self, c1: int, c2: int, k: int, s: int) -> None:
        super().__init__()
        self.cv1 = Conv(c1, c2, 1, 1)
        self.cv2 = Conv(c2, c2, k=k, s=s, g=c2, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv2(self.cv1(x))


class RepVGGDW(nn.Module):
    """YOLOv10 large-kernel depth-wise block: 7x7 DW Conv+BN + 3x3 DW Conv+BN, summed, SiLU."""

    def __init__(self, ed: int) -> None:
        super().__init__()
        self.conv = Conv(ed, ed, 7, 1, 3, g=ed, act=False)
        self.conv1 = Conv(ed, ed, 3, 1, 1, g=ed, act=False)
        self.dim = ed
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x) + self.conv1(x))

    def deploy_form(self) -> nn.Module:
        """One 7x7 depth-wise conv with bias (3x3 centre-padded in, both BNs folded), then SiLU.

        Ultralytics' ``RepVGGDW.fuse``.
        """
        from edgekit.reparam.fusion import FusedConv, fuse_branches
        from edgekit.reparam.passes import as_conv_bn

        return FusedConv(fuse_branches([as_conv_bn(self.conv), as_conv_bn(self.conv1)]), self.act)


class CIB(nn.Module):
    """YOLOv10 compact inverted block."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, e: float = 0.5, lk: bool = False) -> None:
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = nn.Sequential(
            Conv(c1, c1, 3, g=c1),
            Conv(c1, 2 * c_, 1),
            RepVGGDW(2 * c_) if lk else Conv(2 * c_, 2 * c_, 3, g=2 * c_),
            Conv(2 * c_, c2, 1),
            Conv(c2, c2, 3, g=c2),
        )
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.cv1(x) if self.add else self.cv1(x)


class C2fCIB(C2f):
    """C2f with CIB inner blocks (``lk``: large-kernel RepVGGDW inside)."""

    def __init__(
        self,
        c1: int,
        c2: int,
        n: int = 1,
        shortcut: bool = False,
        lk: bool = False,
        g: int = 1,
        e: float = 0.5,
    ) -> None:
        super().__init__(c1, c2, n, shortcut, g, e)
        self.m = nn.ModuleList(CIB(self.c, self.c, shortcut, e=1.0, lk=lk) for _ in range(n))
