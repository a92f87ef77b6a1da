"""The DAMO-YOLO detector: ``backbone``, ``neck``, ``head`` (names of the official ``Detector``)."""

from __future__ import annotations

from typing import List, Tuple

import torch
from torch import nn

from edgekit.models.damoyolo.archs import DamoArch
from edgekit.models.damoyolo.backbone import build_backbone
from edgekit.models.damoyolo.head import ZeroHead
from edgekit.models.damoyolo.neck import GiraffeNeckV2
from edgekit.models.damoyolo.ops import BN_EPS, BN_MOMENTUM, set_bn


class DamoYolo(nn.Module):
    """``forward(x)`` -> (per-level box logits, per-level class logits), see ``ZeroHead``.

    ``x`` is an RGB float image batch in the 0-255 range (no normalisation).
    """

    def __init__(self, arch: DamoArch, nc: int = 80) -> None:
        super().__init__()
        self.arch = arch
        self.backbone = build_backbone(arch)
        self.neck = GiraffeNeckV2(
            arch.neck_in,
            arch.neck_out,
            arch.neck_depth,
            arch.neck_hidden_ratio,
            arch.neck_act,
            arch.neck_depthwise,
        )
        self.head = ZeroHead(nc, arch.neck_out, arch.reg_max, arch.head_kernel, arch.legacy)

    def forward(self, x: torch.Tensor) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        return self.head(self.neck(self.backbone(x)))


def build_model(arch: DamoArch, nc: int = 80, bn_eps: float = BN_EPS) -> DamoYolo:
    """Build an untrained model in train-time form with DAMO-YOLO's BN eps (1e-3)."""
    return set_bn(DamoYolo(arch, nc), eps=bn_eps, momentum=BN_MOMENTUM)
