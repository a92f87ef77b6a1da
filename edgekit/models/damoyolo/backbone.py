"""TinyNAS backbones of DAMO-YOLO: ``TinyNAS_res`` (T, S) and ``TinyNAS_csp`` (M, L).

``TinyNAS_mob`` (Nano) lives in ``nano.py``.

Same module tree as the official ``tinynas_res.py`` / ``tinynas_csp.py``:
res keeps ``block_list.<i>.block_list.<j>``; csp keeps ``csp_stage.<i>`` wrappers
with ``downsampler``/``spp``/``conv_start``/``conv_shortcut``/``convstem``/``conv_fuse``.
"""

from __future__ import annotations

from typing import List, Sequence

import torch
from torch import nn

from edgekit.models.damoyolo.archs import DamoArch, Stage
from edgekit.models.damoyolo.nano import TinyNASMob
from edgekit.models.damoyolo.ops import BlockStage, ConvKXBNAct, Focus, ResConvBlock, SPPBottleneck


def _stem(arch: DamoArch) -> nn.Module:
    if arch.use_focus:
        return Focus(3, arch.stem_out, arch.stem_k, act=arch.backbone_act)
    return ConvKXBNAct(3, arch.stem_out, arch.stem_k, 1, act=arch.backbone_act)


class ResStage(BlockStage):
    """Official ``SuperResStem``: the blocks of one stage (+ SPP after the first block if asked)."""

    def __init__(self, stage: Stage, act: str, with_spp: bool) -> None:
        def block(cin: int, stride: int) -> nn.Module:
            return ResConvBlock(cin, stage.cout, stage.btn, stage.k, stride, act, stage.kind)

        super().__init__(stage, with_spp, block)


class TinyNASRes(nn.Module):
    """``TinyNAS_res``: stem + five residual stages; returns the features of ``out_indices``."""

    def __init__(self, arch: DamoArch) -> None:
        super().__init__()
        self.out_indices = arch.out_indices
        last = len(arch.stages) - 1
        stages = [
            ResStage(s, arch.backbone_act, arch.with_spp and i == last) for i, s in enumerate(arch.stages)
        ]
        self.block_list = nn.ModuleList([_stem(arch), *stages])

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        feats = []
        for i, block in enumerate(self.block_list):
            x = block(x)
            if i in self.out_indices:
                feats.append(x)
        return feats


def _csp_blocks(stage: Stage, act: str) -> List[ResConvBlock]:
    """Official ``CSPStem``: half-width stride-1 blocks (one fewer when the stage downsamples)."""
    half = stage.cout // 2
    count = stage.blocks - 1 if stage.stride == 2 else stage.blocks
    blocks = []
    for i in range(count):
        cin = stage.cin // 2 if stage.stride == 1 and i == 0 else half
        blocks.append(ResConvBlock(cin, half, stage.btn, stage.k, 1, act, stage.kind))
    return blocks


class CSPWrapper(nn.Module):
    """One CSP stage: stride-2 downsampler (+SPP), split, residual blocks, concat, 1x1 fuse.

    The official wrapper is built with its default activation, so its own convs use ReLU
    even where the backbone uses SiLU; the SPP block uses SiLU.
    """

    def __init__(self, stages: Sequence[Stage], act: str, with_spp: bool = False) -> None:
        super().__init__()
        cin, cout = stages[0].cin, stages[-1].cout
        hidden = stages[0].cout // 2
        self.with_spp = with_spp
        self.convstem = nn.ModuleList([b for s in stages for b in _csp_blocks(s, act)])
        self.downsampler = ConvKXBNAct(cin, hidden * 2, 3, 2, act="relu")
        if with_spp:
            self.spp = SPPBottleneck(hidden * 2, hidden * 2)
        if len(self.convstem) > 0:
            self.conv_start = ConvKXBNAct(hidden * 2, hidden, 1, 1, act="relu")
            self.conv_shortcut = ConvKXBNAct(hidden * 2, cout // 2, 1, 1, act="relu")
            self.conv_fuse = ConvKXBNAct(cout, cout, 1, 1, act="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsampler(x)
        if self.with_spp:
            x = self.spp(x)
        if len(self.convstem) == 0:
            return x
        shortcut = self.conv_shortcut(x)
        x = self.conv_start(x)
        for block in self.convstem:
            x = block(x)
        return self.conv_fuse(torch.cat((x, shortcut), 1))


class TinyNASCSP(nn.Module):
    """``TinyNAS_csp``: stem + four CSP wrappers (structure stages 3 and 4 share one wrapper)."""

    def __init__(self, arch: DamoArch) -> None:
        super().__init__()
        if len(arch.stages) != 5:
            raise ValueError("TinyNAS_csp needs exactly five stages")
        self.out_indices = arch.out_indices
        s, act = arch.stages, arch.backbone_act
        self.csp_stage = nn.ModuleList(
            [
                _stem(arch),
                CSPWrapper([s[0]], act),
                CSPWrapper([s[1]], act),
                CSPWrapper([s[2], s[3]], act),
                CSPWrapper([s[4]], act, with_spp=arch.with_spp),
            ]
        )

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        feats = []
        for i, block in enumerate(self.csp_stage):
            x = block(x)
            if i in self.out_indices:
                feats.append(x)
        return feats


def build_backbone(arch: DamoArch) -> nn.Module:
    if arch.backbone == "res":
        return TinyNASRes(arch)
    if arch.backbone == "csp":
        return TinyNASCSP(arch)
    if arch.backbone == "mob":
        return TinyNASMob(arch)
    raise ValueError(f"unknown TinyNAS backbone kind '{arch.backbone}' (res, csp, mob)")
