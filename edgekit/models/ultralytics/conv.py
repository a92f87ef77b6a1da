"""Convolution building blocks of the Ultralytics family, written for edgekit.

Module and attribute names follow the Ultralytics model tree (``nn/modules/conv.py``) so
that a checkpoint's state dict loads with ``strict=True``. Everything stays in its training
form: Conv + BN unfused, ``RepConv`` with its 3x3, 1x1 and optional identity-BN branches.
The reparameterization hooks (``Conv.conv_bn_pairs``, ``RepConv.deploy_form``; see
``edgekit.reparam``) give the inference forms of Ultralytics' ``BaseModel.fuse()``.
"""

from __future__ import annotations

import ast
import contextlib
import math
import re
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

#: BatchNorm settings Ultralytics applies to every model (``initialize_weights``).
BN_EPS = 1e-3
BN_MOMENTUM = 0.03

ActFactory = Callable[[], nn.Module]
_DEFAULT_ACT: List[ActFactory] = [nn.SiLU]

#: activations a model yaml may name (``activation: nn.ReLU()``); anything else is refused
ACTIVATIONS = {
    name: getattr(nn, name)
    for name in (
        "SiLU",
        "ReLU",
        "ReLU6",
        "LeakyReLU",
        "Hardswish",
        "GELU",
        "Mish",
        "Sigmoid",
        "Tanh",
        "Identity",
    )
}


def parse_activation(spec: str) -> ActFactory:
    """``"nn.ReLU()"`` / ``"torch.nn.LeakyReLU(0.1)"`` -> a factory, without ``eval``."""
    match = re.fullmatch(r"\s*(?:torch\.)?nn\.(\w+)\((.*)\)\s*", spec)
    if not match or match.group(1) not in ACTIVATIONS:
        known = ", ".join(f"nn.{n}()" for n in ACTIVATIONS)
        raise ValueError(f"unsupported activation '{spec}' (known: {known})")
    cls = ACTIVATIONS[match.group(1)]
    raw = match.group(2).strip()
    args = ast.literal_eval(f"({raw},)") if raw else ()
    return lambda: cls(*args)


@contextlib.contextmanager
def default_activation(factory: Optional[ActFactory]) -> Iterator[None]:
    """Within the block, ``Conv(..., act=True)`` uses ``factory`` (the yaml ``activation`` key)."""
    if factory is None:
        yield
        return
    _DEFAULT_ACT.append(factory)
    try:
        yield
    finally:
        _DEFAULT_ACT.pop()


def _act(act: Union[bool, nn.Module]) -> nn.Module:
    if act is True:
        return _DEFAULT_ACT[-1]()
    return act if isinstance(act, nn.Module) else nn.Identity()


def batch_norm(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


def autopad(k: Union[int, Sequence[int]], p: Optional[int] = None, d: int = 1) -> Union[int, List[int]]:
    """'Same' padding for kernel ``k`` and dilation ``d``."""
    if d > 1:
        k = d * (k - 1) + 1 if isinstance(k, int) else [d * (x - 1) + 1 for x in k]
    if p is None:
        p = k // 2 if isinstance(k, int) else [x // 2 for x in k]
    return p


class Conv(nn.Module):
    """Conv2d (no bias) -> BatchNorm -> activation; keys ``conv.weight``, ``bn.*``."""

    def __init__(
        self,
        c1: int,
        c2: int,
        k: int = 1,
        s: int = 1,
        p: Optional[int] = None,
        g: int = 1,
        d: int = 1,
        act: Union[bool, nn.Module] = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p, d), groups=g, dilation=d, bias=False)
        self.bn = batch_norm(c2)
        self.act = _act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def conv_bn_pairs(self) -> List[Tuple[str, str]]:
        """``bn(conv(x))``: folded by ``ConvBnFoldPass`` (BN eps read from ``self.bn``)."""
        return [("conv", "bn")]


class DWConv(Conv):
    """Depth-wise Conv: groups = gcd(c1, c2)."""

    def __init__(
        self, c1: int, c2: int, k: int = 1, s: int = 1, d: int = 1, act: Union[bool, nn.Module] = True
    ):
        super().__init__(c1, c2, k, s, g=math.gcd(c1, c2), d=d, act=act)


class RepConv(nn.Module):
    """3x3 Conv+BN + 1x1 Conv+BN (+ identity BN when ``bn`` and shapes allow), summed, then SiLU.

    Keys: ``bn.*`` (identity branch, only if present), ``conv1.*``, ``conv2.*``.
    """

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
        bn: bool = False,
    ) -> None:
        super().__init__()
        if k != 3 or p != 1:
            raise ValueError("RepConv needs k=3, p=1")
        self.g, self.c1, self.c2 = g, c1, c2
        # RepConv keeps SiLU as its default even when the yaml overrides Conv's activation
        self.act = nn.SiLU() if act is True else act if isinstance(act, nn.Module) else nn.Identity()
        self.bn = batch_norm(c1) if bn and c2 == c1 and s == 1 else None
        self.conv1 = Conv(c1, c2, k, s, p=p, g=g, act=False)
        self.conv2 = Conv(c1, c2, 1, s, p=(p - k // 2), g=g, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = 0 if self.bn is None else self.bn(x)
        return self.act(self.conv1(x) + self.conv2(x) + identity)

    def deploy_form(self) -> nn.Module:
        """One 3x3 conv with bias (1x1 and identity branches centre-padded in, each BN folded), then act.

        Ultralytics' ``RepConv.fuse_convs``; ``conv1``/``conv2`` may already be folded.
        """
        from edgekit.reparam.fusion import FusedConv, fuse_branches
        from edgekit.reparam.passes import as_conv_bn

        branches = [as_conv_bn(self.conv1), as_conv_bn(self.conv2)]
        if self.bn is not None:
            branches.append((None, self.bn))
        return FusedConv(fuse_branches(branches), self.act)


class Concat(nn.Module):
    """Concatenate a list of tensors along ``dimension``."""

    def __init__(self, dimension: int = 1) -> None:
        super().__init__()
        self.d = dimension

    def forward(self, x: List[torch.Tensor]) -> torch.Tensor:
        return torch.cat(x, self.d)
