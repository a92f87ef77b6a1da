"""Test modules written for the reparam tests: they implement the hooks the families implement.

``ConvBN`` declares ``conv_bn_pairs``; ``RepBlock`` is a RepConv (3x3 conv+BN + 1x1 conv+BN
+ optional identity BN) whose ``deploy_form`` uses ``edgekit.reparam.fusion``;
``TinyDetector`` returns the raw output convention of ``edgekit.contract.model``.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
from torch import nn

from edgekit.contract.model import HeadSpec
from edgekit.reparam import FusedConv, as_conv_bn, fuse_branches, randomize_batchnorm

EPS = 1e-3


class ConvBN(nn.Module):
    """conv -> bn -> act (Ultralytics ``Conv`` / DAMO ``ConvBNAct`` shape)."""

    def __init__(self, cin: int, cout: int, k: int = 3, s: int = 1, g: int = 1, act: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, k // 2, groups=g, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=EPS)
        self.act = nn.SiLU() if act else nn.Identity()

    def conv_bn_pairs(self) -> Sequence[Tuple[str, str]]:
        return [("conv", "bn")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class RepBlock(nn.Module):
    """3x3 conv+BN + 1x1 conv+BN (+ identity BN) summed, then SiLU."""

    def __init__(self, cin: int, cout: int, s: int = 1, g: int = 1, identity: bool = False) -> None:
        super().__init__()
        self.conv1 = ConvBN(cin, cout, 3, s, g, act=False)
        self.conv2 = ConvBN(cin, cout, 1, s, g, act=False)
        self.bn = nn.BatchNorm2d(cin, eps=EPS) if identity else None
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(x) + self.conv2(x)
        return self.act(y if self.bn is None else y + self.bn(x))

    def deploy_form(self) -> nn.Module:
        branches = [as_conv_bn(self.conv1), as_conv_bn(self.conv2)]
        if self.bn is not None:
            branches.append((None, self.bn))
        return FusedConv(fuse_branches(branches), self.act)


class TinyDetector(nn.Module):
    """Three levels (strides 8/16/32) of box logits ``4 * bins`` and class logits ``nc``."""

    def __init__(self, nc: int = 3, bins: int = 4, width: int = 8) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w, eps=EPS), nn.ReLU())
        self.down4 = RepBlock(w, w, s=2)  # stride 4
        self.p3 = nn.Sequential(ConvBN(w, 2 * w, 3, 2), RepBlock(2 * w, 2 * w, identity=True))
        self.p4 = nn.Sequential(RepBlock(2 * w, 2 * w, s=2), ConvBN(2 * w, 2 * w, 3, g=2 * w))  # depthwise
        self.p5 = RepBlock(2 * w, 2 * w, s=2)
        self.box = nn.ModuleList([nn.Conv2d(2 * w, 4 * bins, 1) for _ in range(3)])
        self.cls = nn.ModuleList([nn.Conv2d(2 * w, nc, 1) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        p3 = self.p3(self.down4(self.stem(x)))
        p4 = self.p4(p3)
        p5 = self.p5(p4)
        feats = (p3, p4, p5)
        return [m(f) for m, f in zip(self.box, feats)], [m(f) for m, f in zip(self.cls, feats)]


def tiny_detector(seed: int = 0, nc: int = 3, bins: int = 4) -> TinyDetector:
    """Random weights, random BN statistics/affine, eval mode; box logits scaled up so the
    DFL softmax is not flat."""
    torch.manual_seed(seed)
    model = randomize_batchnorm(TinyDetector(nc, bins), seed).eval()
    with torch.no_grad():
        for conv in model.box:
            conv.weight.mul_(4.0)
    return model


def head_spec(bins: int = 4, nc: int = 3, **kw: object) -> HeadSpec:
    return HeadSpec(strides=(8, 16, 32), bins=bins, nc=nc, **kw)  # type: ignore[arg-type]
