"""Building blocks of the WongKinYiu YOLOv9 / GELAN family, written for edgekit.

Attribute and child names follow the official ``models/common.py`` so that official
state dicts load with ``strict=True`` and ``edgekit.models.yolov9.writer`` can pickle
these modules under the official class names (``_official_path``). Attributes only
edgekit needs are prefixed ``_ek_``; the writer drops them. Reparameterization hooks:
``Conv.conv_bn_pairs`` and ``RepConvN.deploy_form`` (see ``edgekit.reparam``).

BatchNorm layers use eps 1e-3 and momentum 0.03: the official ``DetectionModel``
sets these on every ``BatchNorm2d`` at build time (``initialize_weights``).
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from edgekit.models.base import split_channels

BN_EPS = 1e-3
BN_MOMENTUM = 0.03
REG_MAX = 16

Kernel = Union[int, Sequence[int]]


def autopad(k: Kernel, p: Optional[Kernel] = None, d: int = 1) -> Kernel:
    """'Same' padding for kernel ``k`` and dilation ``d`` unless ``p`` is given."""
    if d > 1:
        k = d * (k - 1) + 1 if isinstance(k, int) else [d * (x - 1) + 1 for x in k]
    if p is None:
        p = k // 2 if isinstance(k, int) else [x // 2 for x in k]
    return p


def make_divisible(x: float, divisor: int) -> int:
    """Smallest multiple of ``divisor`` that is >= ``x``."""
    return int(math.ceil(x / divisor) * divisor)


def _act(act: Union[bool, nn.Module]) -> nn.Module:
    if act is True:
        return nn.SiLU(inplace=True)
    return act if isinstance(act, nn.Module) else nn.Identity()


class Conv(nn.Module):
    """Conv2d (no bias) + BatchNorm2d + activation."""

    _official_path = "models.common.Conv"

    def __init__(
        self,
        c1: int,
        c2: int,
        k: Kernel = 1,
        s: int = 1,
        p: Optional[Kernel] = None,
        g: int = 1,
        d: int = 1,
        act: Union[bool, nn.Module] = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p, d), groups=g, dilation=d, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = _act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def conv_bn_pairs(self) -> List[Tuple[str, str]]:
        """``bn(conv(x))`` with nothing in between: foldable (``edgekit.reparam``)."""
        return [("conv", "bn")]


class AConv(nn.Module):
    """Average-pool (2, stride 1) then a stride-2 3x3 Conv."""

    _official_path = "models.common.AConv"

    def __init__(self, c1: int, c2: int) -> None:
        super().__init__()
        self.cv1 = Conv(c1, c2, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv1(F.avg_pool2d(x, 2, 1, 0, False, True))


class ADown(nn.Module):
    """Down-sampling: avg-pool, split channels; strided 3x3 conv | max-pool + 1x1 conv."""

    _official_path = "models.common.ADown"

    def __init__(self, c1: int, c2: int) -> None:
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1 // 2, self.c, 3, 2, 1)
        self.cv2 = Conv(c1 // 2, self.c, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(x, 2, 1, 0, False, True)
        x1, x2 = x.chunk(2, 1)
        return torch.cat((self.cv1(x1), self.cv2(F.max_pool2d(x2, 3, 2, 1))), 1)


class RepConvN(nn.Module):
    """Train-time multi-branch block: 3x3 Conv+BN plus 1x1 Conv+BN, summed, then activation."""

    _official_path = "models.common.RepConvN"

    def __init__(
        self,
        c1: int,
        c2: int,
        k: int = 3,
        s: int = 1,
        p: int = 1,
        g: int = 1,
        d: int = 1,
        act: Union[bool, nn.Module] = True,
    ) -> None:
        super().__init__()
        if k != 3 or p != 1:
            raise ValueError("RepConvN supports only k=3, p=1")
        self.g = g
        self.c1 = c1
        self.c2 = c2
        self.act = _act(act)
        self.bn = None  # identity branch: always absent in YOLOv9
        self.conv1 = Conv(c1, c2, k, s, p=p, g=g, act=False)
        self.conv2 = Conv(c1, c2, 1, s, p=p - k // 2, g=g, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv1(x) + self.conv2(x))

    def deploy_form(self) -> nn.Module:
        """One 3x3 conv (1x1 branch centre-padded, each BN folded with its own eps) + activation."""
        from edgekit.reparam.fusion import FusedConv, fuse_branches
        from edgekit.reparam.passes import as_conv_bn

        if self.bn is not None:
            raise ValueError("RepConvN with an identity BatchNorm branch is not part of YOLOv9")
        return FusedConv(fuse_branches([as_conv_bn(self.conv1), as_conv_bn(self.conv2)]), self.act)


class SP(nn.Module):
    """'Same' max-pooling."""

    _official_path = "models.common.SP"

    def __init__(self, k: int = 3, s: int = 1) -> None:
        super().__init__()
        self.m = nn.MaxPool2d(kernel_size=k, stride=s, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.m(x)


class RepNBottleneck(nn.Module):
    """RepConvN then Conv, with a residual add when shapes allow."""

    _official_path = "models.common.RepNBottleneck"

    def __init__(
        self, c1: int, c2: int, shortcut: bool = True, g: int = 1, k: Tuple[int, int] = (3, 3), e: float = 0.5
    ) -> None:
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = RepConvN(c1, c_, k[0], 1)
        self.cv2 = Conv(c_, c2, k[1], 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class RepNCSP(nn.Module):
    """CSP block whose bottlenecks are RepNBottlenecks."""

    _official_path = "models.common.RepNCSP"

    def __init__(
        self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5
    ) -> None:
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(RepNBottleneck(c_, c_, shortcut, g, e=1.0) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class _Elan(nn.Module):
    """ELAN data flow shared by RepNCSPELAN4 and ELAN1: split, two chained stages, concat, 1x1."""

    cv1: nn.Module
    cv2: nn.Module
    cv3: nn.Module
    cv4: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        y.append(self.cv2(y[-1]))
        y.append(self.cv3(y[-1]))
        return self.cv4(torch.cat(y, 1))


class RepNCSPELAN4(_Elan):
    """GELAN block: 1x1 split, two (RepNCSP + 3x3 Conv) stages, concat of all four, 1x1."""

    _official_path = "models.common.RepNCSPELAN4"

    def __init__(self, c1: int, c2: int, c3: int, c4: int, c5: int = 1) -> None:
        super().__init__()
        self.c = c3 // 2
        self.cv1 = Conv(c1, c3, 1, 1)
        self.cv2 = nn.Sequential(RepNCSP(c3 // 2, c4, c5), Conv(c4, c4, 3, 1))
        self.cv3 = nn.Sequential(RepNCSP(c4, c4, c5), Conv(c4, c4, 3, 1))
        self.cv4 = Conv(c3 + 2 * c4, c2, 1, 1)


class ELAN1(_Elan):
    """Light ELAN block of the t/s models (plain 3x3 Convs instead of RepNCSP stages)."""

    _official_path = "models.common.ELAN1"

    def __init__(self, c1: int, c2: int, c3: int, c4: int) -> None:
        super().__init__()
        self.c = c3 // 2
        self.cv1 = Conv(c1, c3, 1, 1)
        self.cv2 = Conv(c3 // 2, c4, 3, 1)
        self.cv3 = Conv(c4, c4, 3, 1)
        self.cv4 = Conv(c3 + 2 * c4, c2, 1, 1)


class SPPELAN(nn.Module):
    """SPP over three chained 5x5 max-pools, ELAN style."""

    _official_path = "models.common.SPPELAN"

    def __init__(self, c1: int, c2: int, c3: int) -> None:
        super().__init__()
        self.c = c3
        self.cv1 = Conv(c1, c3, 1, 1)
        self.cv2 = SP(5)
        self.cv3 = SP(5)
        self.cv4 = SP(5)
        self.cv5 = Conv(4 * c3, c2, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for m in (self.cv2, self.cv3, self.cv4):
            y.append(m(y[-1]))
        return self.cv5(torch.cat(y, 1))


class Concat(nn.Module):
    """Concatenate a list of tensors along ``d``."""

    _official_path = "models.common.Concat"

    def __init__(self, dimension: int = 1) -> None:
        super().__init__()
        self.d = dimension

    def forward(self, x: List[torch.Tensor]) -> torch.Tensor:
        return torch.cat(x, self.d)


class Silence(nn.Module):
    """Identity (layer 0 of PGI models: hands the image to both backbones)."""

    _official_path = "models.common.Silence"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class CBLinear(nn.Module):
    """One conv whose output is split into per-target pieces (PGI auxiliary reversible branch)."""

    _official_path = "models.common.CBLinear"

    def __init__(
        self, c1: int, c2s: List[int], k: int = 1, s: int = 1, p: Optional[int] = None, g: int = 1
    ) -> None:
        super().__init__()
        self.c2s = c2s
        self.conv = nn.Conv2d(c1, sum(c2s), k, s, autopad(k, p), groups=g, bias=True)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return split_channels(self.conv(x), self.c2s)


class CBFuse(nn.Module):
    """Sum of the last input and nearest-resized pieces ``idx[i]`` of the CBLinear inputs."""

    _official_path = "models.common.CBFuse"

    def __init__(self, idx: List[int]) -> None:
        super().__init__()
        self.idx = idx

    def forward(self, xs: list) -> torch.Tensor:
        size = xs[-1].shape[2:]
        res = [F.interpolate(x[self.idx[i]], size=size, mode="nearest") for i, x in enumerate(xs[:-1])]
        return torch.stack([*res, xs[-1]]).sum(0)


class DFL(nn.Module):
    """Distribution focal loss integral: frozen 1x1 conv with weights 0..c1-1."""

    _official_path = "models.common.DFL"

    def __init__(self, c1: int = REG_MAX) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1))
        self.c1 = c1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, a = x.shape
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)
