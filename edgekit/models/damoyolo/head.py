"""``ZeroHead`` of DAMO-YOLO (``stacked_convs=0``) returning edgekit's raw output convention."""

from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
from torch import nn


class Scale(nn.Module):
    """A learnable scalar multiplier (key ``scale``, a 0-d tensor)."""

    def __init__(self, value: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(value, dtype=torch.float))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class Integral(nn.Module):
    """Holds the official ``project`` buffer ``0..reg_max``; the expectation itself is in decode."""

    def __init__(self, reg_max: int = 16) -> None:
        super().__init__()
        self.reg_max = reg_max
        self.register_buffer("project", torch.linspace(0, reg_max, reg_max + 1))


class ZeroHead(nn.Module):
    """Per level one ``gfl_cls`` and one ``gfl_reg`` conv and a ``Scale`` on the regression.

    ``cls_convs``/``reg_convs`` are the empty per-level lists of ``stacked_convs=0`` (no
    parameters; kept so the module tree matches). ``forward`` returns, per level, box logits
    ``(B, 4*(reg_max+1), H, W)`` after the Scale and class logits ``(B, nc, H, W)`` before the
    sigmoid (a legacy head's extra channel is sliced off).
    """

    def __init__(
        self,
        nc: int,
        in_channels: Sequence[int],
        reg_max: int = 16,
        kernel: int = 3,
        legacy: bool = False,
    ) -> None:
        super().__init__()
        self.nc = nc
        self.reg_max = reg_max
        cls_out = nc + 1 if legacy else nc
        levels = range(len(in_channels))
        self.integral = Integral(reg_max)  # registered first: official state-dict key order
        self.cls_convs = nn.ModuleList([nn.ModuleList() for _ in levels])
        self.reg_convs = nn.ModuleList([nn.ModuleList() for _ in levels])
        self.gfl_cls = nn.ModuleList(
            [nn.Conv2d(c, cls_out, kernel, padding=kernel // 2) for c in in_channels]
        )
        self.gfl_reg = nn.ModuleList(
            [nn.Conv2d(c, 4 * (reg_max + 1), kernel, padding=kernel // 2) for c in in_channels]
        )
        self.scales = nn.ModuleList([Scale(1.0) for _ in levels])

    def forward(self, feats: Sequence[torch.Tensor]) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        boxes, scores = [], []
        for x, cls_conv, reg_conv, scale in zip(feats, self.gfl_cls, self.gfl_reg, self.scales):
            boxes.append(scale(reg_conv(x)))
            scores.append(cls_conv(x)[:, : self.nc])
        return boxes, scores

    def deploy_form(self) -> DeployZeroHead:
        """The same head with each level's Scale folded into its ``gfl_reg`` conv (exact)."""
        from edgekit.reparam.fusion import fold_scale_into_conv

        reg = [fold_scale_into_conv(conv, s.scale) for conv, s in zip(self.gfl_reg, self.scales)]
        return DeployZeroHead(self.nc, list(self.gfl_cls), reg)


class DeployZeroHead(nn.Module):
    """Inference form of ``ZeroHead``: no Scale modules, same outputs."""

    def __init__(self, nc: int, gfl_cls: Sequence[nn.Conv2d], gfl_reg: Sequence[nn.Conv2d]) -> None:
        super().__init__()
        self.nc = nc
        self.gfl_cls = nn.ModuleList(gfl_cls)
        self.gfl_reg = nn.ModuleList(gfl_reg)

    def forward(self, feats: Sequence[torch.Tensor]) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        boxes = [reg(x) for x, reg in zip(feats, self.gfl_reg)]
        scores = [cls(x)[:, : self.nc] for x, cls in zip(feats, self.gfl_cls)]
        return boxes, scores
