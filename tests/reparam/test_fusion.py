"""The fusion arithmetic: hand-checked values and equivalence on random weights and BN stats."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgekit.reparam.fusion import (
    branch_kernel,
    fold_conv_bn,
    fold_scale_into_conv,
    fuse_branches,
    identity_kernel,
    merge_branches,
    pad_kernel_to,
)
from edgekit.reparam.samples import randomize_batchnorm
from edgekit.verify import TOLERANCE, max_rel_error


def _bn(n: int, eps: float = 1e-3, seed: int = 0) -> nn.BatchNorm2d:
    return randomize_batchnorm(nn.BatchNorm2d(n, eps=eps), seed).eval()


def _x(c: int = 4, size: int = 9, seed: int = 0) -> torch.Tensor:
    return torch.randn(2, c, size, size, generator=torch.Generator().manual_seed(seed)) * 3 + 1


def test_fold_by_hand() -> None:
    # y = bn(2x), mean 1, var 3, eps 1, gamma 4, beta 5: t = 4 / sqrt(3 + 1) = 2 -> W' = 4, b' = -2 + 5 = 3
    conv = nn.Conv2d(1, 1, 1, bias=False)
    conv.weight.data.fill_(2.0)
    bn = nn.BatchNorm2d(1, eps=1.0).eval()
    bn.running_mean.fill_(1.0)
    bn.running_var.fill_(3.0)
    bn.weight.data.fill_(4.0)
    bn.bias.data.fill_(5.0)
    fused = fold_conv_bn(conv, bn)
    assert fused.weight.item() == pytest.approx(4.0)
    assert fused.bias.item() == pytest.approx(3.0)
    x = torch.tensor([[[[1.5]]]])
    assert fused(x).item() == pytest.approx(bn(conv(x)).item()) == pytest.approx(9.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"in_channels": 4, "out_channels": 6, "kernel_size": 3, "padding": 1},  # regular
        {"in_channels": 4, "out_channels": 4, "kernel_size": 3, "padding": 1, "groups": 4},  # depthwise
        {"in_channels": 4, "out_channels": 6, "kernel_size": 3, "padding": 1, "stride": 2},  # stride 2
        {"in_channels": 4, "out_channels": 6, "kernel_size": 3, "padding": 2, "dilation": 2},  # dilated
        {"in_channels": 4, "out_channels": 8, "kernel_size": 1, "groups": 2, "bias": True},  # grouped, bias
        {"in_channels": 4, "out_channels": 6, "kernel_size": 5, "padding": 2, "bias": True},  # with bias
    ],
    ids=["regular", "depthwise", "stride2", "dilated", "grouped-bias", "bias"],
)
def test_fold_conv_bn_is_equivalent(kwargs: dict) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(**{"bias": False, **kwargs}).eval()
    bn = _bn(conv.out_channels)
    fused = fold_conv_bn(conv, bn)
    assert fused.stride == conv.stride and fused.groups == conv.groups and fused.dilation == conv.dilation
    assert fused.bias is not None
    x = _x()
    with torch.no_grad():
        assert max_rel_error(fused(x), bn(conv(x))) <= TOLERANCE


def test_fold_reads_eps_from_the_module_and_ignoring_it_breaks_equivalence() -> None:
    torch.manual_seed(1)
    conv = nn.Conv2d(4, 6, 3, padding=1, bias=False)
    bn = _bn(6, eps=1e-3, seed=1)
    with torch.no_grad():
        bn.running_var.uniform_(0.01, 0.05)  # small variances: eps matters, as in trained models
        x = _x()
        reference = bn(conv(x))
        assert max_rel_error(fold_conv_bn(conv, bn)(x), reference) <= TOLERANCE
        default_eps = nn.BatchNorm2d(6).eval()  # torch's eps 1e-5: what a rebuild without eps does
        default_eps.load_state_dict(bn.state_dict())
        assert default_eps.eps == 1e-5
        assert max_rel_error(fold_conv_bn(conv, default_eps)(x), reference) > 10 * TOLERANCE


def test_identity_kernel_by_hand() -> None:
    k = identity_kernel(4, groups=2)  # two groups of two channels: (4, 2, 1, 1)
    assert k.shape == (4, 2, 1, 1)
    assert k[:, :, 0, 0].tolist() == [[1, 0], [0, 1], [1, 0], [0, 1]]
    dw = identity_kernel(3, groups=3)
    assert dw.flatten().tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="divisible"):
        identity_kernel(3, groups=2)


def test_pad_and_merge_by_hand() -> None:
    k3 = torch.ones(1, 1, 3, 3)
    k1 = torch.full((1, 1, 1, 1), 2.0)
    padded = pad_kernel_to(k1, 3)
    assert padded[0, 0].tolist() == [[0, 0, 0], [0, 2, 0], [0, 0, 0]]
    kernel, bias = merge_branches([(k3, torch.tensor([1.0])), (k1, torch.tensor([0.5]))])
    assert kernel[0, 0].tolist() == [[1, 1, 1], [1, 3, 1], [1, 1, 1]]
    assert bias.tolist() == [1.5]
    with pytest.raises(ValueError, match="centre-pad"):
        pad_kernel_to(torch.ones(1, 1, 3, 3), 4)


def test_identity_branch_kernel_is_the_bn_affine() -> None:
    bn = _bn(3, seed=2)
    kernel, bias = branch_kernel(None, bn, groups=1)
    t = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    assert torch.allclose(kernel[:, :, 0, 0], torch.diag(t))
    assert torch.allclose(bias, bn.bias - bn.running_mean * t)


@pytest.mark.parametrize(
    "stride, groups, identity",
    [(1, 1, False), (2, 1, False), (1, 2, False), (2, 2, False), (1, 1, True), (1, 2, True)],
)
def test_fuse_branches_equals_the_sum(stride: int, groups: int, identity: bool) -> None:
    torch.manual_seed(3)
    c = 4
    c3 = nn.Conv2d(c, c, 3, stride, 1, groups=groups, bias=False)
    c1 = nn.Conv2d(c, c, 1, stride, 0, groups=groups, bias=False)
    b3, b1, bid = _bn(c, seed=3), _bn(c, seed=4), _bn(c, seed=5)
    branches = [(c3, b3), (c1, b1)] + ([(None, bid)] if identity else [])
    fused = fuse_branches(branches)
    assert fused.kernel_size == (3, 3) and fused.stride == (stride, stride) and fused.groups == groups
    x = _x(c, 10)
    with torch.no_grad():
        reference = b3(c3(x)) + b1(c1(x)) + (bid(x) if identity else 0)
        assert max_rel_error(fused(x), reference) <= TOLERANCE


def test_fuse_branches_accepts_folded_branches() -> None:
    torch.manual_seed(4)
    c3, c1 = nn.Conv2d(4, 4, 3, 1, 1, bias=False), nn.Conv2d(4, 4, 1, bias=False)
    b3, b1 = _bn(4, seed=6), _bn(4, seed=7)
    folded = fuse_branches([(fold_conv_bn(c3, b3), None), (fold_conv_bn(c1, b1), nn.Identity())])
    x = _x()
    with torch.no_grad():
        assert max_rel_error(folded(x), b3(c3(x)) + b1(c1(x))) <= TOLERANCE


def test_fuse_branches_refuses_inexact_merges() -> None:
    c3 = nn.Conv2d(4, 4, 3, 2, 1, bias=False)
    with pytest.raises(ValueError, match="stride"):
        fuse_branches([(c3, _bn(4)), (nn.Conv2d(4, 4, 1, 1, bias=False), _bn(4))])
    with pytest.raises(ValueError, match="identity branch"):
        fuse_branches([(c3, _bn(4)), (None, _bn(4))])
    with pytest.raises(ValueError, match="padding"):
        fuse_branches([(nn.Conv2d(4, 4, 3, 1, 0, bias=False), _bn(4))])


@pytest.mark.parametrize("scale", [0.37, torch.tensor(1.7), torch.linspace(0.5, 2.0, 6)])
def test_fold_scale_into_conv(scale: object) -> None:
    torch.manual_seed(5)
    conv = nn.Conv2d(4, 6, 3, padding=1)
    fused = fold_scale_into_conv(conv, scale)  # type: ignore[arg-type]
    s = torch.as_tensor(scale).reshape(-1, 1, 1) if isinstance(scale, torch.Tensor) else scale
    x = _x()
    with torch.no_grad():
        assert max_rel_error(fused(x), conv(x) * s) <= TOLERANCE
    with pytest.raises(ValueError, match="output channels"):
        fold_scale_into_conv(conv, torch.ones(4))
