"""Narrow DAMO-YOLO structures of the golden fixtures (same numbers the official code was given).

The official config system takes any TinyNAS structure list; these are T-like (TinyNAS_res,
k1kx, ReLU), M-like (TinyNAS_csp, kxkx, SiLU) and Nano-like (TinyNAS_mob) lists with small
channel counts.
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.models.damoyolo.archs import DamoArch, Stage
from edgekit.models.damoyolo.head import Scale

TINY_RES = DamoArch(
    name="tiny-res",
    backbone="res",
    stem_out=4,
    stages=(
        Stage(4, 8, 4, 2, 1, "k1kx"),
        Stage(8, 16, 8, 2, 2, "k1kx"),
        Stage(16, 16, 8, 2, 1, "k1kx"),
        Stage(16, 24, 8, 1, 2, "k1kx"),  # cin != cout at stride 1: has a residual_proj
        Stage(24, 32, 16, 2, 1, "k1kx"),
    ),
    backbone_act="relu",
    neck_in=(16, 24, 32),
    neck_out=(8, 16, 24),
    neck_depth=1.0,
    neck_hidden_ratio=0.75,
    neck_act="relu",
    imgsz=128,
)

TINY_CSP = DamoArch(
    name="tiny-csp",
    backbone="csp",
    stem_out=4,
    stages=(
        Stage(4, 8, 4, 2, 2, "kxkx"),
        Stage(8, 8, 4, 2, 2, "kxkx"),
        Stage(8, 16, 8, 2, 2, "kxkx"),
        Stage(16, 16, 8, 1, 2, "kxkx"),
        Stage(16, 32, 8, 2, 2, "kxkx"),
    ),
    backbone_act="silu",
    neck_in=(8, 16, 32),
    neck_out=(8, 16, 32),
    neck_depth=1.5,  # round(4.5) == 4 blocks per CSPStage, as in M
    neck_hidden_ratio=1.0,
    neck_act="silu",
    imgsz=128,
    legacy=True,  # one spare class channel, sliced off
)

TINY_MOB = DamoArch(  # Nano-like: TinyNAS_mob, depthwise neck, 1x1 head convs, reg_max 7
    name="tiny-mob",
    backbone="mob",
    stem_out=4,
    stages=(
        Stage(4, 8, 4, 2, 1),
        Stage(8, 16, 8, 2, 2),
        Stage(16, 16, 8, 2, 1),
        Stage(16, 24, 8, 1, 2),
        Stage(24, 32, 8, 2, 1),
    ),
    backbone_act="silu",
    neck_in=(16, 24, 32),
    neck_out=(16, 24, 32),
    neck_depth=0.5,  # round(1.5) == 2 blocks per CSPStage
    neck_hidden_ratio=0.5,
    neck_act="silu",
    use_focus=False,
    neck_depthwise=True,
    reg_max=7,
    head_kernel=1,
    imgsz=128,
)

TINY = {"tiny_res": (TINY_RES, 5), "tiny_csp": (TINY_CSP, 3), "tiny_mob": (TINY_MOB, 2)}  # name -> (arch, nc)


def randomize_(model: nn.Module, image: torch.Tensor, seed: int = 0) -> nn.Module:
    """Random weights, random BN statistics/affine and random Scales, with sane activations.

    Running statistics are first taken from one train-mode pass over ``image`` (so activations
    stay O(1)), then perturbed: mean shifted, variance scaled by U(0.5, 2), gamma U(0.5, 1.5),
    beta N(0, 0.2). Returns the model in eval mode.
    """
    g = torch.Generator().manual_seed(seed)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=g)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g)

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(randn(*m.weight.shape) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(randn(*m.bias.shape) * 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + rand(m.num_features))
                m.bias.copy_(randn(m.num_features) * 0.2)
        momenta = {m: m.momentum for m in model.modules() if isinstance(m, nn.BatchNorm2d)}
        for m in momenta:
            m.momentum = 1.0
        model.train()
        model(image)
        for m, momentum in momenta.items():
            m.momentum = momentum
            std = m.running_var.sqrt()
            m.running_mean.add_(randn(m.num_features) * 0.2 * std)
            m.running_var.mul_(0.5 + 1.5 * rand(m.num_features))
            m.num_batches_tracked.fill_(int(rand(1).item() * 1000))
        for m in model.modules():
            if isinstance(m, Scale):
                m.scale.fill_(0.5 + rand(1).item())
        model.eval()
        box, cls = model(image)  # bring the head logits to a std of about 2
        for convs, outs in ((model.head.gfl_reg, box), (model.head.gfl_cls, cls)):
            for conv, out in zip(convs, outs):
                factor = 2.0 / float(out.std())
                conv.weight.mul_(factor)
                conv.bias.mul_(factor)
    return model
