"""RT-DETRv2's HybridEncoder (``src/zoo/rtdetr/hybrid_encoder.py``): input projections, a transformer
encoder on the deepest level (AIFI), then a top-down FPN and a bottom-up PAN of CSPRepLayers, with
the official parameter names. ``RepVggBlock`` knows its fused form (one 3x3 conv).
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
}


def activation(name: Optional[str]) -> nn.Module:
    if name is None:
        return nn.Identity()
    if name.lower() not in ACTIVATIONS:
        raise ValueError(f"activation '{name}' is not one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name.lower()]()


class ConvNormLayer(nn.Module):
    def __init__(
        self, c1: int, c2: int, k: int, s: int, act: Optional[str] = None, bias: bool = False
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, (k - 1) // 2, bias=bias)
        self.norm = nn.BatchNorm2d(c2)
        self.act = activation(act)

    def conv_bn_pairs(self) -> Sequence[Tuple[str, str]]:
        return [("conv", "norm")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class RepVggBlock(nn.Module):
    """3x3 conv+BN plus 1x1 conv+BN, summed, then the activation."""

    def __init__(self, c1: int, c2: int, act: str = "relu") -> None:
        super().__init__()
        self.conv1 = ConvNormLayer(c1, c2, 3, 1)
        self.conv2 = ConvNormLayer(c1, c2, 1, 1)
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv1(x) + self.conv2(x))

    def deploy_form(self) -> nn.Module:
        """The official ``convert_to_deploy``: one 3x3 conv with bias (the 1x1 centre-padded in)."""
        from edgekit.reparam.fusion import FusedConv, fuse_branches
        from edgekit.reparam.passes import as_conv_bn

        return FusedConv(fuse_branches([as_conv_bn(self.conv1), as_conv_bn(self.conv2)]), self.act)


class CSPRepLayer(nn.Module):
    def __init__(self, c1: int, c2: int, blocks: int = 3, expansion: float = 1.0, act: str = "silu") -> None:
        super().__init__()
        hidden = int(c2 * expansion)
        self.conv1 = ConvNormLayer(c1, hidden, 1, 1, act=act)
        self.conv2 = ConvNormLayer(c1, hidden, 1, 1, act=act)
        self.bottlenecks = nn.Sequential(*[RepVggBlock(hidden, hidden, act=act) for _ in range(blocks)])
        self.conv3: nn.Module = ConvNormLayer(hidden, c2, 1, 1, act=act) if hidden != c2 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.bottlenecks(self.conv1(x)) + self.conv2(x))


class TransformerEncoderLayer(nn.Module):
    """Post-norm transformer encoder layer (batch first), position embedding added to q and k."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, act: str = "gelu") -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, batch_first=True)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.activation = activation(act)

    def forward(self, src: torch.Tensor, pos_embed: torch.Tensor) -> torch.Tensor:
        q = k = src + pos_embed
        src = self.norm1(src + self.self_attn(q, k, value=src, need_weights=False)[0])
        return self.norm2(src + self.linear2(self.activation(self.linear1(src))))


class TransformerEncoder(nn.Module):
    def __init__(self, layer: nn.Module, num_layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))

    def forward(self, src: torch.Tensor, pos_embed: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            src = layer(src, pos_embed)
        return src


def sincos_position_embedding(w: int, h: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """RT-DETRv2's 2D embedding (1, w * h, dim): the grid is enumerated column-major (``meshgrid(w, h,
    indexing='ij')``) while the tokens are row-major, as the official code does; on square maps this
    is Ultralytics' embedding, on others each token gets another cell's (kept: it is what trained)."""
    grid_w, grid_h = torch.meshgrid(
        torch.arange(int(w), dtype=torch.float32), torch.arange(int(h), dtype=torch.float32), indexing="ij"
    )
    omega = 1.0 / temperature ** (torch.arange(dim // 4, dtype=torch.float32) / (dim // 4))
    out_w = grid_w.flatten()[..., None] @ omega[None]
    out_h = grid_h.flatten()[..., None] @ omega[None]
    return torch.cat([out_w.sin(), out_w.cos(), out_h.sin(), out_h.cos()], dim=1)[None]


class HybridEncoder(nn.Module):
    def __init__(
        self,
        in_channels: Sequence[int] = (512, 1024, 2048),
        hidden_dim: int = 256,
        nhead: int = 8,
        dim_feedforward: int = 1024,
        enc_act: str = "gelu",
        use_encoder_idx: Sequence[int] = (2,),
        num_encoder_layers: int = 1,
        expansion: float = 1.0,
        depth_mult: float = 1.0,
        act: str = "silu",
    ) -> None:
        super().__init__()
        self.hidden_dim, self.use_encoder_idx = hidden_dim, list(use_encoder_idx)
        self.num_encoder_layers = num_encoder_layers
        self.input_proj = nn.ModuleList(
            nn.Sequential(
                OrderedDict(
                    [("conv", nn.Conv2d(c, hidden_dim, 1, bias=False)), ("norm", nn.BatchNorm2d(hidden_dim))]
                )
            )
            for c in in_channels
        )
        layer = TransformerEncoderLayer(hidden_dim, nhead, dim_feedforward, enc_act)
        self.encoder = nn.ModuleList(
            TransformerEncoder(layer, num_encoder_layers) for _ in self.use_encoder_idx
        )
        levels, blocks = len(in_channels), round(3 * depth_mult)
        self.lateral_convs = nn.ModuleList(
            ConvNormLayer(hidden_dim, hidden_dim, 1, 1, act) for _ in range(levels - 1)
        )
        self.fpn_blocks = nn.ModuleList(
            CSPRepLayer(hidden_dim * 2, hidden_dim, blocks, expansion, act) for _ in range(levels - 1)
        )
        self.downsample_convs = nn.ModuleList(
            ConvNormLayer(hidden_dim, hidden_dim, 3, 2, act) for _ in range(levels - 1)
        )
        self.pan_blocks = nn.ModuleList(
            CSPRepLayer(hidden_dim * 2, hidden_dim, blocks, expansion, act) for _ in range(levels - 1)
        )

    def forward(self, feats: List[torch.Tensor]) -> List[torch.Tensor]:
        proj = [p(f) for p, f in zip(self.input_proj, feats)]
        if self.num_encoder_layers > 0:
            for i, level in enumerate(self.use_encoder_idx):
                h, w = proj[level].shape[2:]
                pos = sincos_position_embedding(w, h, self.hidden_dim).to(proj[level].dtype)
                memory = self.encoder[i](proj[level].flatten(2).permute(0, 2, 1), pos)
                proj[level] = memory.permute(0, 2, 1).reshape(-1, self.hidden_dim, h, w).contiguous()
        levels = len(proj)
        inner = [proj[-1]]
        for idx in range(levels - 1, 0, -1):
            high = self.lateral_convs[levels - 1 - idx](inner[0])
            inner[0] = high
            up = F.interpolate(high, scale_factor=2.0, mode="nearest")
            inner.insert(0, self.fpn_blocks[levels - 1 - idx](torch.cat([up, proj[idx - 1]], 1)))
        outs = [inner[0]]
        for idx in range(levels - 1):
            down = self.downsample_convs[idx](outs[-1])
            outs.append(self.pan_blocks[idx](torch.cat([down, inner[idx + 1]], 1)))
        return outs
