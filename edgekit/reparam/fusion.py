"""Exact fusion arithmetic: Conv+BN folding, multi-branch merging, scale folding.

A *branch* is a ``(kernel, bias)`` pair: ``kernel`` of shape ``(out, in / groups, kh, kw)``
and ``bias`` of shape ``(out,)``. An eval-mode BatchNorm is the affine map
``y = (x - mean) * t + beta`` with ``t = gamma / sqrt(var + eps)``, so a conv followed by it
is the conv with ``W' = W * t`` and ``b' = (b - mean) * t + beta`` (``b = 0`` without bias).
Branches that read the same input with the same stride and "same" padding add up after
centre-padding the smaller kernels. ``eps`` is always read from the BatchNorm module.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import torch
from torch import nn

Branch = Tuple[torch.Tensor, torch.Tensor]


def _is_bn(module: Optional[nn.Module]) -> bool:
    return isinstance(module, nn.modules.batchnorm._BatchNorm)


def bn_scale_shift(bn: nn.BatchNorm2d) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``(t, shift)`` with ``bn(x) == x * t + shift`` in eval mode (uses ``bn.eps``)."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(
            "a BatchNorm without running statistics cannot be folded (track_running_stats=False)"
        )
    mean, var = bn.running_mean.detach(), bn.running_var.detach()
    gamma = bn.weight.detach() if bn.weight is not None else torch.ones_like(mean)
    beta = bn.bias.detach() if bn.bias is not None else torch.zeros_like(mean)
    t = gamma / torch.sqrt(var + bn.eps)
    return t, beta - mean * t


def identity_kernel(
    channels: int, groups: int = 1, dtype: torch.dtype = torch.float32, device: Optional[torch.device] = None
) -> torch.Tensor:
    """The ``(C, C / groups, 1, 1)`` kernel of a grouped 1x1 conv that returns its input."""
    if channels % groups:
        raise ValueError(f"{channels} channels are not divisible into {groups} groups")
    per_group = channels // groups
    kernel = torch.zeros(channels, per_group, 1, 1, dtype=dtype, device=device)
    idx = torch.arange(channels, device=device)
    kernel[idx, idx % per_group, 0, 0] = 1.0
    return kernel


def branch_kernel(conv: Optional[nn.Conv2d], bn: Optional[nn.Module] = None, groups: int = 1) -> Branch:
    """``(kernel, bias)`` of ``bn(conv(x))``.

    ``conv=None`` is an identity branch (``bn(x)``, a 1x1 identity kernel with ``groups``);
    ``bn=None`` or ``nn.Identity`` is a conv alone (already folded: its bias is kept).
    """
    if conv is None:
        if not _is_bn(bn):
            raise ValueError("an identity branch needs its BatchNorm")
        n = bn.num_features  # type: ignore[union-attr]
        kernel = identity_kernel(n, groups, bn.running_mean.dtype, bn.running_mean.device)  # type: ignore[union-attr]
        bias = torch.zeros(n, dtype=kernel.dtype, device=kernel.device)
    else:
        kernel = conv.weight.detach()
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(kernel[:, 0, 0, 0])
    if bn is None or isinstance(bn, nn.Identity):
        return kernel.clone(), bias.clone()
    if not _is_bn(bn):
        raise TypeError(f"expected a BatchNorm, got {type(bn).__name__}")
    if bn.num_features != kernel.shape[0]:  # type: ignore[union-attr]
        raise ValueError(f"BatchNorm has {bn.num_features} channels, the conv {kernel.shape[0]}")  # type: ignore[union-attr]
    t, shift = bn_scale_shift(bn)  # type: ignore[arg-type]
    return kernel * t.view(-1, 1, 1, 1), bias * t + shift


def pad_kernel_to(kernel: torch.Tensor, size: Union[int, Tuple[int, int]]) -> torch.Tensor:
    """Zero-pad a kernel symmetrically to ``size`` (a 1x1 becomes the centre tap of a 3x3)."""
    kh, kw = (size, size) if isinstance(size, int) else size
    dh, dw = kh - kernel.shape[2], kw - kernel.shape[3]
    if dh < 0 or dw < 0 or dh % 2 or dw % 2:
        raise ValueError(f"cannot centre-pad a {tuple(kernel.shape[2:])} kernel to {(kh, kw)}")
    return nn.functional.pad(kernel, [dw // 2, dw // 2, dh // 2, dh // 2])


def merge_branches(branches: Sequence[Branch]) -> Branch:
    """Sum of parallel branches, smaller kernels centre-padded to the largest."""
    if not branches:
        raise ValueError("no branches to merge")
    kh = max(k.shape[2] for k, _ in branches)
    kw = max(k.shape[3] for k, _ in branches)
    kernel = sum(pad_kernel_to(k, (kh, kw)) for k, _ in branches)
    bias = sum(b for _, b in branches)
    return kernel, bias  # type: ignore[return-value]


def conv_from_kernel(template: nn.Conv2d, kernel: torch.Tensor, bias: Optional[torch.Tensor]) -> nn.Conv2d:
    """A new ``Conv2d`` with ``template``'s stride/padding/dilation/groups and the given weights."""
    conv = nn.Conv2d(
        template.in_channels,
        kernel.shape[0],
        tuple(kernel.shape[2:]),  # type: ignore[arg-type]
        stride=template.stride,  # type: ignore[arg-type]
        padding=template.padding,  # type: ignore[arg-type]
        dilation=template.dilation,  # type: ignore[arg-type]
        groups=template.groups,
        bias=bias is not None,
        padding_mode=template.padding_mode,
        device=kernel.device,
        dtype=kernel.dtype,
    )
    with torch.no_grad():
        conv.weight.copy_(kernel)
        if bias is not None:
            conv.bias.copy_(bias)  # type: ignore[union-attr]
    return conv


def fold_conv_bn(conv: nn.Conv2d, bn: nn.Module) -> nn.Conv2d:
    """``bn(conv(x))`` as one ``Conv2d`` with a bias (any groups, stride, dilation; ``bn.eps``)."""
    kernel, bias = branch_kernel(conv, bn)
    return conv_from_kernel(conv, kernel, bias)


def fuse_branches(branches: Sequence[Tuple[Optional[nn.Conv2d], Optional[nn.Module]]]) -> nn.Conv2d:
    """Parallel conv+BN branches (``conv=None``: identity-BN branch) summed into one ``Conv2d``.

    The conv with the largest kernel gives the geometry; every branch must use the same
    stride and groups and "same" padding (``padding == dilation * (k // 2)``); an identity
    branch needs stride 1 and as many input as output channels.
    """
    convs = [c for c, _ in branches if c is not None]
    if not convs:
        raise ValueError("at least one branch needs a conv")
    template = max(convs, key=lambda c: c.kernel_size[0] * c.kernel_size[1])
    for c in convs:
        if c.stride != template.stride or c.groups != template.groups or c.dilation != template.dilation:
            raise ValueError("branches differ in stride, groups or dilation: they cannot be merged exactly")
        same = tuple(d * (k // 2) for d, k in zip(c.dilation, c.kernel_size))
        if c.padding != "same" and tuple(c.padding) != same:  # type: ignore[arg-type]
            raise ValueError(f"branch padding {c.padding} is not 'same' for kernel {c.kernel_size}")
    if any(c is None for c, _ in branches) and (
        template.stride != (1, 1) or template.in_channels != template.out_channels
    ):
        raise ValueError("an identity branch needs stride 1 and in_channels == out_channels")
    kernel, bias = merge_branches([branch_kernel(c, bn, template.groups) for c, bn in branches])
    return conv_from_kernel(template, kernel, bias)


def fold_scale_into_conv(conv: nn.Conv2d, scale: Union[float, torch.Tensor]) -> nn.Conv2d:
    """``conv(x) * scale`` as one conv (a scalar or per-output-channel scale; W*s, b*s)."""
    s = torch.as_tensor(scale.detach() if isinstance(scale, torch.Tensor) else scale, dtype=conv.weight.dtype)
    s = s.to(conv.weight.device).reshape(-1)
    if s.numel() not in (1, conv.out_channels):
        raise ValueError(f"a scale of {s.numel()} values does not fit {conv.out_channels} output channels")
    kernel = conv.weight.detach() * s.view(-1, 1, 1, 1)
    bias = conv.bias.detach() * s if conv.bias is not None else None
    return conv_from_kernel(conv, kernel, bias)


class FusedConv(nn.Module):
    """The deploy form of conv+BN(+branches)+activation: ``act(conv(x))``."""

    def __init__(self, conv: nn.Conv2d, act: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.conv = conv
        self.act = act if act is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))
