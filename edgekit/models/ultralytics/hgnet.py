"""RT-DETR's backbone and encoder blocks, as Ultralytics builds them (``nn/modules/block.py``,
``conv.py``, ``transformer.py``): the HGNetv2 stem and blocks, ResNet layers, RepC3 and the AIFI
transformer encoder layer. Parameter names follow Ultralytics' so its checkpoints load as they are.
"""

from __future__ import annotations

from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from edgekit.models.ultralytics.conv import Conv, DWConv, RepConv


class LightConv(nn.Module):
    """1x1 Conv+BN (no activation), then a depth-wise ``k`` x ``k`` Conv+BN+act."""

    def __init__(self, c1: int, c2: int, k: int = 1, act: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.conv1 = Conv(c1, c2, 1, act=False)
        self.conv2 = DWConv(c2, c2, k, act=nn.ReLU() if act is None else act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class HGStem(nn.Module):
    """HGNetv2 stem: a stride-2 conv, a max-pool branch beside two 2x2 convs, two more convs (ReLU)."""

    def __init__(self, c1: int, cm: int, c2: int) -> None:
        super().__init__()
        self.stem1 = Conv(c1, cm, 3, 2, act=nn.ReLU())
        self.stem2a = Conv(cm, cm // 2, 2, 1, 0, act=nn.ReLU())
        self.stem2b = Conv(cm // 2, cm, 2, 1, 0, act=nn.ReLU())
        self.stem3 = Conv(cm * 2, cm, 3, 2, act=nn.ReLU())
        self.stem4 = Conv(cm, c2, 1, 1, act=nn.ReLU())
        self.pool = nn.MaxPool2d(kernel_size=2, stride=1, padding=0, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(self.stem1(x), [0, 1, 0, 1])
        x2 = self.stem2b(F.pad(self.stem2a(x), [0, 1, 0, 1]))
        return self.stem4(self.stem3(torch.cat([self.pool(x), x2], 1)))


class HGBlock(nn.Module):
    """``n`` chained (light) convs whose outputs are concatenated with the input, squeezed to ``c2 / 2``
    and excited to ``c2`` (1x1 convs), plus the input where ``shortcut`` and the widths allow."""

    def __init__(
        self,
        c1: int,
        cm: int,
        c2: int,
        k: int = 3,
        n: int = 6,
        lightconv: bool = False,
        shortcut: bool = False,
        act: Optional[nn.Module] = None,
    ) -> None:
        super().__init__()
        act = nn.ReLU() if act is None else act
        if lightconv:
            self.m = nn.ModuleList(LightConv(c1 if i == 0 else cm, cm, k=k, act=act) for i in range(n))
        else:
            self.m = nn.ModuleList(Conv(c1 if i == 0 else cm, cm, k=k, act=act) for i in range(n))
        self.sc = Conv(c1 + n * cm, c2 // 2, 1, 1, act=act)
        self.ec = Conv(c2 // 2, c2, 1, 1, act=act)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: List[torch.Tensor] = [x]
        for m in self.m:
            y.append(m(y[-1]))
        out = self.ec(self.sc(torch.cat(y, 1)))
        return out + x if self.add else out


class RepC3(nn.Module):
    """CSP block of ``n`` RepConvs (RT-DETR's neck): ``cv3(m(cv1(x)) + cv2(x))``."""

    def __init__(self, c1: int, c2: int, n: int = 3, e: float = 1.0) -> None:
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.m = nn.Sequential(*[RepConv(c_, c_) for _ in range(n)])
        self.cv3 = Conv(c_, c2, 1, 1) if c_ != c2 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(self.m(self.cv1(x)) + self.cv2(x))


class ResNetBlock(nn.Module):
    """ResNet bottleneck: 1x1, 3x3 (stride ``s``), 1x1 to ``e * c2``, plus a projected shortcut, ReLU."""

    def __init__(self, c1: int, c2: int, s: int = 1, e: int = 4) -> None:
        super().__init__()
        c3 = e * c2
        self.cv1 = Conv(c1, c2, k=1, s=1, act=True)
        self.cv2 = Conv(c2, c2, k=3, s=s, p=1, act=True)
        self.cv3 = Conv(c2, c3, k=1, act=False)
        projected = s != 1 or c1 != c3
        self.shortcut = nn.Sequential(Conv(c1, c3, k=1, s=s, act=False)) if projected else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.cv3(self.cv2(self.cv1(x))) + self.shortcut(x))


class ResNetLayer(nn.Module):
    """The ResNet stem (7x7 conv + max-pool, ``is_first``) or a stage of ``n`` bottlenecks."""

    def __init__(self, c1: int, c2: int, s: int = 1, is_first: bool = False, n: int = 1, e: int = 4) -> None:
        super().__init__()
        self.is_first = is_first
        if is_first:
            self.layer = nn.Sequential(
                Conv(c1, c2, k=7, s=2, p=3, act=True), nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            )
        else:
            blocks = [ResNetBlock(c1, c2, s, e=e)]
            blocks.extend(ResNetBlock(e * c2, c2, 1, e=e) for _ in range(n - 1))
            self.layer = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


def sincos_position_embedding(w: int, h: int, dim: int, like: torch.Tensor, temperature: float = 10000.0):
    """(1, h * w, dim) 2D sine-cosine position embedding: sin / cos of the row, then of the column."""
    if dim % 4:
        raise ValueError(f"a 2D sine-cosine position embedding needs a width divisible by 4, got {dim}")
    zero = like.new_zeros(1, dtype=torch.float32)
    rows, cols = torch.arange(h).type_as(zero), torch.arange(w).type_as(zero)
    grid_h, grid_w = torch.meshgrid(rows, cols, indexing="ij")
    omega = 1.0 / temperature ** (torch.arange(dim // 4).type_as(zero) / (dim // 4))
    out_w = grid_w.flatten()[..., None] @ omega[None]
    out_h = grid_h.flatten()[..., None] @ omega[None]
    return torch.cat([torch.sin(out_h), torch.cos(out_h), torch.sin(out_w), torch.cos(out_w)], 1)[None]


class AIFI(nn.Module):
    """RT-DETR's intra-scale encoder: one transformer encoder layer over the P5 map with a 2D sine-cosine
    position embedding (Ultralytics' ``TransformerEncoderLayer``: attention ``ma``, FFN ``fc1``/``fc2``,
    GELU, post-norm unless ``normalize_before``)."""

    def __init__(
        self,
        c1: int,
        cm: int = 2048,
        num_heads: int = 8,
        dropout: float = 0.0,
        act: Optional[nn.Module] = None,
        normalize_before: bool = False,
    ) -> None:
        super().__init__()
        self.ma = nn.MultiheadAttention(c1, num_heads, dropout=dropout, batch_first=True)
        self.fc1 = nn.Linear(c1, cm)
        self.fc2 = nn.Linear(cm, c1)
        self.norm1 = nn.LayerNorm(c1)
        self.norm2 = nn.LayerNorm(c1)
        self.act = nn.GELU() if act is None else act
        self.normalize_before = normalize_before

    def _encode(self, src: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        if self.normalize_before:
            src2 = self.norm1(src)
            q = k = src2 + pos
            src = src + self.ma(q, k, value=src2)[0]
            return src + self.fc2(self.act(self.fc1(self.norm2(src))))
        q = k = src + pos
        src = self.norm1(src + self.ma(q, k, value=src)[0])
        return self.norm2(src + self.fc2(self.act(self.fc1(src))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, h, w = x.shape[1:]
        pos = sincos_position_embedding(w, h, c, like=x).to(x.dtype)
        y = self._encode(x.flatten(2).permute(0, 2, 1), pos)
        return y.permute(0, 2, 1).view([-1, c, h, w]).contiguous()
