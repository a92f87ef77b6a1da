"""The RT-DETRv2 model (``src/zoo/rtdetr/rtdetr.py``: backbone -> encoder -> decoder), rebuilt from a
``V2Arch`` with the official keys (``backbone.*``, ``encoder.*``, ``decoder.*``)."""

from __future__ import annotations

from typing import Tuple

import torch
from torch import nn

from edgekit.models.detr import cxcywh_to_pixels
from edgekit.models.rtdetrv2.arch import V2Arch
from edgekit.models.rtdetrv2.decoder import RTDETRTransformerv2
from edgekit.models.rtdetrv2.encoder import HybridEncoder
from edgekit.models.rtdetrv2.presnet import PResNet


class RTDETRv2(nn.Module):
    """``forward`` returns the query head's raw convention (``edgekit.contract.model``): boxes
    ``(B, Q, 4)`` x1, y1, x2, y2 in input pixels and class logits ``(B, Q, nc)``;
    :meth:`query_outputs` what the official model returns (``pred_boxes`` normalized cxcywh, ``pred_logits``).
    """

    stride = 32  # the input must be a multiple of the deepest level's stride

    def __init__(self, arch: V2Arch, num_classes: int = 80, denoising: bool = True) -> None:
        super().__init__()
        self.arch, self.nc = arch, num_classes
        self.names = [str(i) for i in range(num_classes)]
        self.backbone = PResNet(arch.depth, return_idx=arch.return_idx, num_stages=arch.num_stages)
        self.encoder = HybridEncoder(
            self.backbone.out_channels,
            arch.hidden_dim,
            arch.enc_nhead,
            arch.enc_ffn,
            use_encoder_idx=arch.use_encoder_idx,
            num_encoder_layers=arch.enc_layers,
            expansion=arch.expansion,
            depth_mult=arch.depth_mult,
        )
        self.decoder = RTDETRTransformerv2(
            num_classes,
            arch.dec_hidden_dim,
            arch.num_queries,
            [arch.hidden_dim] * len(arch.num_points),
            arch.num_points,
            arch.dec_nhead,
            arch.dec_layers,
            arch.dec_ffn,
            arch.eval_idx,
            arch.cross_attn_method,
            arch.query_select_method,
            denoising,
        )

    @property
    def head(self) -> RTDETRTransformerv2:
        return self.decoder

    def query_outputs(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.decoder(self.encoder(self.backbone(x)))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        boxes, logits = self.query_outputs(x)
        return cxcywh_to_pixels(boxes, x), logits
