"""The generic passes on modules written in the test (RepBlock, ConvBN) and plain Sequentials."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from edgekit.reparam import (
    ConvBnFoldPass,
    ConvBnFusible,
    DeployFormPass,
    DropModulesPass,
    FusedConv,
    Reparameterizable,
    as_conv_bn,
    batchnorm_paths,
    randomize_batchnorm,
    sample_inputs,
)
from edgekit.verify import TOLERANCE, max_rel_error

from .helpers import ConvBN, RepBlock, tiny_detector


def _images(size: int = 32, c: int = 3) -> torch.Tensor:
    x = sample_inputs(size, batch=2)
    return x if c == 3 else x.repeat(1, (c + 2) // 3, 1, 1)[:, :c]


def test_test_modules_satisfy_the_protocols() -> None:
    assert isinstance(RepBlock(4, 4), Reparameterizable)
    assert isinstance(ConvBN(4, 4), ConvBnFusible)
    assert not isinstance(ConvBN(4, 4), Reparameterizable)
    assert not isinstance(nn.Conv2d(4, 4, 1), ConvBnFusible)


@pytest.mark.parametrize(
    "stride, identity, groups",
    [(1, False, 1), (2, False, 1), (1, True, 1), (1, True, 4), (2, False, 8)],
    ids=["s1", "s2", "identity", "identity-grouped", "s2-depthwise"],
)
def test_repblock_deploy_form_is_one_conv_and_equivalent(stride: int, identity: bool, groups: int) -> None:
    torch.manual_seed(0)
    block = randomize_batchnorm(RepBlock(8, 8, stride, groups, identity), seed=stride).eval()
    fused = block.deploy_form()
    assert isinstance(fused, FusedConv)
    assert fused.conv.kernel_size == (3, 3) and fused.conv.stride == (stride, stride)
    assert not batchnorm_paths(fused)
    x = _images(16, 8)
    with torch.no_grad():
        assert max_rel_error(fused(x), block(x)) <= TOLERANCE


def test_deploy_form_pass_replaces_children_and_counts_by_class() -> None:
    model = tiny_detector()
    work = copy.deepcopy(model)
    result = DeployFormPass().run(work)
    assert result.changed == 4 and result.details == ["RepBlock x4"]
    assert result.model is None
    assert not any(isinstance(m, RepBlock) for m in work.modules())
    assert DeployFormPass().applies(model) and not DeployFormPass().applies(work)
    x = _images(64)
    with torch.no_grad():
        got, want = work(x), model(x)
        for a, b in zip(got[0] + got[1], want[0] + want[1]):
            assert max_rel_error(a, b) <= TOLERANCE


def test_deploy_form_pass_replaces_the_root_and_keeps_shared_modules_shared() -> None:
    block = randomize_batchnorm(RepBlock(4, 4), 1).eval()
    result = DeployFormPass().run(block)
    assert isinstance(result.model, FusedConv) and result.changed == 1
    shared = RepBlock(4, 4).eval()
    holder = nn.ModuleList([shared, shared])
    DeployFormPass().run(holder)
    assert holder[0] is holder[1] and isinstance(holder[0], FusedConv)


def test_deploy_form_after_folding_gives_the_same_conv() -> None:
    """Children-first order and pass order must not matter: folded branches fuse the same."""
    block = randomize_batchnorm(RepBlock(8, 8, identity=True), 2).eval()
    direct = block.deploy_form().conv
    folded = copy.deepcopy(block)
    ConvBnFoldPass().run(folded)
    assert isinstance(folded.conv1.bn, nn.Identity) and folded.conv1.conv.bias is not None
    later = folded.deploy_form().conv
    assert torch.allclose(direct.weight, later.weight, atol=1e-6)
    assert torch.allclose(direct.bias, later.bias, atol=1e-6)


def test_conv_bn_fold_pass_declared_and_sequential() -> None:
    model = tiny_detector()
    work = copy.deepcopy(model)
    fold = ConvBnFoldPass()
    assert fold.applies(work)
    result = fold.run(work)
    # declared: 2 plain ConvBN + 4 RepBlocks x 2 branch ConvBN; undeclared Sequential: the stem
    assert result.details[:2] == ["ConvBN x10", "Sequential x1"]
    assert result.changed == 11
    # identity-branch BN is no conv+BN pair: left for the RepBlock's deploy form, and reported
    assert batchnorm_paths(work) == ["p3.1.bn"]
    assert "1 BatchNorm not declared foldable, kept: p3.1.bn" in result.details
    assert not fold.applies(work)
    x = _images(64)
    with torch.no_grad():
        got, want = work(x), model(x)
        for a, b in zip(got[0] + got[1], want[0] + want[1]):
            assert max_rel_error(a, b) <= TOLERANCE


def test_conv_bn_fold_refuses_a_wrong_declaration() -> None:
    class Wrong(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 1)
            self.bn = nn.ReLU()

        def conv_bn_pairs(self):
            return [("conv", "bn")]

    holder = nn.Sequential(Wrong())
    with pytest.raises(TypeError, match=r"0: \(conv, bn\) are Conv2d, ReLU"):
        ConvBnFoldPass().run(holder)


def test_as_conv_bn_reads_every_branch_form() -> None:
    conv, bn = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)
    assert as_conv_bn(conv) == (conv, None)
    assert as_conv_bn(FusedConv(conv)) == (conv, None)
    assert as_conv_bn(nn.Sequential(conv, bn)) == (conv, bn)
    branch = ConvBN(4, 4, act=False)
    assert as_conv_bn(branch) == (branch.conv, branch.bn)
    with pytest.raises(ValueError, match="activation"):
        as_conv_bn(ConvBN(4, 4, act=True))
    with pytest.raises(TypeError, match="not a conv"):
        as_conv_bn(nn.ReLU())


def test_drop_modules_pass() -> None:
    class Trainable(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.main = nn.Conv2d(3, 4, 1)
            self.aux = nn.Conv2d(3, 4, 1)  # e.g. a one-to-many branch
            self.extra = nn.ModuleList([nn.Conv2d(3, 4, 1) for _ in range(4)])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.main(x)
            return y if self.aux is None else y + 0 * self.aux(x)

    model = Trainable()
    drop = DropModulesPass(lambda m: ["aux", "extra.1", "extra.3"], name="drop_aux")
    assert drop.applies(model) and drop.name == "drop_aux"
    result = drop.run(model)
    assert result.changed == 3
    assert model.aux is None and len(model.extra) == 2
    assert "dropped aux (16 parameters and buffer values)" in result.details
    assert model(torch.ones(1, 3, 2, 2)).shape == (1, 4, 2, 2)
    assert not DropModulesPass(lambda m: []).applies(model)
    with pytest.raises(ValueError, match="'nope' is not a sub-module"):
        DropModulesPass(lambda m: ["nope"]).run(model)
