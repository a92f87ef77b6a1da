"""Building blocks of DAMO-YOLO, written for edgekit.

Module and attribute names follow the official model tree (``tinyvision/DAMO-YOLO``,
``damo/base_models/core/ops.py`` and the TinyNAS backbones) so that official state dicts
load with ``strict=True``. Everything stays in its training form (Conv + BN unfused,
``RepConv`` with both branches); reparameterization is a separate pass that uses the
hooks declared here (``conv_bn_pairs``, ``deploy_form``; see ``edgekit.reparam``).
"""

from __future__ import annotations

from typing import Any, Callable, List, Sequence, Tuple

import torch
from torch import nn

#: BatchNorm settings of DAMO-YOLO (``Detector.init_bn``), not stored in checkpoints.
BN_EPS = 1e-3
BN_MOMENTUM = 0.03


def activation(name: str) -> nn.Module:
    """``"relu"``, ``"silu"`` or ``"identity"`` (DAMO-YOLO's ``get_activation`` subset)."""
    if name == "relu":
        return nn.ReLU()
    if name == "silu":
        return nn.SiLU()
    if name == "identity":
        return nn.Identity()
    raise ValueError(f"unsupported DAMO-YOLO activation '{name}' (relu, silu, identity)")


def set_bn(model: nn.Module, eps: float = BN_EPS, momentum: float = BN_MOMENTUM) -> nn.Module:
    """Give every BatchNorm of ``model`` DAMO-YOLO's eps/momentum (what ``init_bn`` does)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = eps
            m.momentum = momentum
    return model


def _conv(cin: int, cout: int, k: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, bias=bias)


class ConvBNAct(nn.Module):
    """Conv (no bias) -> BN -> activation; keys ``conv.*``, ``bn.*``."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, act: str = "silu") -> None:
        super().__init__()
        self.conv = _conv(cin, cout, k, stride)
        self.bn = nn.BatchNorm2d(cout)
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def conv_bn_pairs(self) -> List[Tuple[str, str]]:
        return [("conv", "bn")]


class ConvKXBN(nn.Module):
    """Conv (no bias) -> BN of the TinyNAS backbones; keys ``conv1.*``, ``bn1.*``."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv(cin, cout, k, stride)
        self.bn1 = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn1(self.conv1(x))

    def conv_bn_pairs(self) -> List[Tuple[str, str]]:
        return [("conv1", "bn1")]


class ConvKXBNAct(nn.Module):
    """``ConvKXBN`` followed by an activation (official ``ConvKXBNRELU``); keys ``conv.*``."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, act: str = "relu") -> None:
        super().__init__()
        self.conv = ConvKXBN(cin, cout, k, stride)
        self.activation_function = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation_function(self.conv(x))


class ConvBN(nn.Module):
    """One RepConv branch: conv (no bias) + BN under the names ``conv`` and ``bn``."""

    def __init__(self, cin: int, cout: int, k: int, stride: int) -> None:
        super().__init__()
        self.conv = _conv(cin, cout, k, stride)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))

    def conv_bn_pairs(self) -> List[Tuple[str, str]]:
        return [("conv", "bn")]


class RepConv(nn.Module):
    """Train-time 3x3 conv+BN plus 1x1 conv+BN, summed, then the activation (no identity branch)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, act: str = "relu") -> None:
        super().__init__()
        self.rbr_dense = ConvBN(cin, cout, 3, stride)
        self.rbr_1x1 = ConvBN(cin, cout, 1, stride)
        self.nonlinearity = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinearity(self.rbr_dense(x) + self.rbr_1x1(x))

    def deploy_form(self) -> nn.Module:
        """One 3x3 conv (1x1 branch zero-padded, both BNs folded with their own eps) + activation."""
        from edgekit.reparam.fusion import FusedConv, fuse_branches
        from edgekit.reparam.passes import as_conv_bn

        conv = fuse_branches([as_conv_bn(self.rbr_dense), as_conv_bn(self.rbr_1x1)])
        return FusedConv(conv, self.nonlinearity)


class Focus(nn.Module):
    """Space-to-depth (TL, BL, TR, BR patches) then ``ConvBNAct``; keys ``conv.conv.*``."""

    def __init__(self, cin: int, cout: int, k: int = 1, act: str = "silu") -> None:
        super().__init__()
        self.conv = ConvBNAct(cin * 4, cout, k, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tl, tr = x[..., ::2, ::2], x[..., ::2, 1::2]
        bl, br = x[..., 1::2, ::2], x[..., 1::2, 1::2]
        return self.conv(torch.cat((tl, bl, tr, br), 1))


class SPPBottleneck(nn.Module):
    """YOLOv3-SPP: 1x1 conv, max-pools 5/9/13 concatenated, 1x1 conv (always SiLU in DAMO-YOLO)."""

    def __init__(
        self, cin: int, cout: int, kernel_sizes: Sequence[int] = (5, 9, 13), act: str = "silu"
    ) -> None:
        super().__init__()
        hidden = cin // 2
        self.conv1 = ConvBNAct(cin, hidden, 1, act=act)
        self.m = nn.ModuleList([nn.MaxPool2d(k, 1, k // 2) for k in kernel_sizes])
        self.conv2 = ConvBNAct(hidden * (len(kernel_sizes) + 1), cout, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [m(x) for m in self.m], 1))


class ResConvBlock(nn.Module):
    """TinyNAS residual block: conv1 (1x1 for k1kx, kxk for kxkx) -> act -> RepConv -> (+res) -> act."""

    def __init__(self, cin: int, cout: int, btn: int, k: int, stride: int, act: str, block_type: str) -> None:
        super().__init__()
        self.stride = stride
        self.conv1 = ConvKXBN(cin, btn, 1 if block_type == "k1kx" else k, 1)
        self.conv2 = RepConv(btn, cout, stride, act="identity")
        self.activation_function = activation(act)
        self.residual_proj = ConvKXBN(cin, cout, 1, 1) if cin != cout and stride != 2 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = x if self.residual_proj is None else self.residual_proj(x)
        y = self.conv2(self.activation_function(self.conv1(x)))
        if self.stride != 2:
            y = y + res
        return self.activation_function(y)


def modules_of(model: nn.Module, kinds: Sequence[type]) -> List[nn.Module]:
    """All sub-modules of the given types (used for the train-structure counts)."""
    return [m for m in model.modules() if isinstance(m, tuple(kinds))]


class BlockStage(nn.Module):
    """A backbone stage: ``stage.blocks`` blocks in ``block_list`` (the first may stride), with the
    SPP bottleneck after the first block when ``with_spp``; ``make_block(cin, stride)`` builds one."""

    def __init__(self, stage: Any, with_spp: bool, make_block: Callable[[int, int], nn.Module]) -> None:
        super().__init__()
        self.block_list = nn.ModuleList()
        for i in range(stage.blocks):
            self.block_list.append(
                make_block(stage.cin if i == 0 else stage.cout, stage.stride if i == 0 else 1)
            )
            if i == 0 and with_spp:
                self.block_list.append(SPPBottleneck(stage.cout, stage.cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.block_list:
            x = block(x)
        return x
