"""Building blocks the DETR-style families share (Ultralytics RT-DETR, lyuwenyu's RT-DETRv2).

``deformable_attention`` is multi-scale deformable attention as both write it: per level, the
value map sampled at each query's points, weighted by its attention weights and summed. The
``default`` method samples bilinearly with ``grid_sample`` (zero padding, corners not aligned);
RT-DETRv2's ``discrete`` method rounds each point to a cell and gathers it.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

Shapes = List[Tuple[int, int]]


class MLP(nn.Module):
    """``num_layers`` linear layers with ReLU between them (keys ``layers.<i>.*``)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        h = [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(n, k) for n, k in zip([input_dim, *h], [*h, output_dim]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


def decoder_train_only_parts(head: nn.Module) -> List[str]:
    """What only training reads in a DETR decoder head (paths relative to it): the denoising
    embedding, the score heads of the layers before the evaluation layer, every layer (and its box
    head) after it. ``head`` has ``denoising_class_embed``, ``dec_score_head`` (a ``ModuleDict`` by
    layer index), ``dec_bbox_head`` and ``decoder.layers`` / ``decoder.eval_idx``."""
    last = head.decoder.eval_idx
    parts = ["denoising_class_embed"] if head.denoising_class_embed is not None else []
    parts += [
        f"dec_score_head.{k}" for k, m in head.dec_score_head.items() if m is not None and k != str(last)
    ]
    parts += [f"decoder.layers.{i}" for i in range(last + 1, len(head.decoder.layers))]
    parts += [f"dec_bbox_head.{i}" for i in range(last + 1, len(head.dec_bbox_head))]
    return parts


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def _discrete(value: torch.Tensor, grid: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """RT-DETRv2's ``discrete`` sampling: ``value`` (BH, d, h, w), ``grid`` (BH, Q, P, 2) in [0, 1]
    -> (BH, d, Q, P). Each point is rounded to a cell (``int(x * w + 0.5)``). The official code clamps
    both coordinates to ``h - 1`` (its "FIX ME" for non-square maps): x is clamped to
    ``min(h, w) - 1`` here, which is the same wherever that code runs (w >= h) and stays in the map
    where it indexes past it (portrait maps, w < h)."""
    rows, queries, points, _ = grid.shape
    coord = (grid * torch.tensor([[w, h]], dtype=grid.dtype) + 0.5).to(torch.int64)
    high = torch.tensor([min(h, w) - 1, h - 1])
    coord = torch.minimum(coord.clamp(min=0), high).reshape(rows, queries * points, 2)
    index = torch.arange(rows).unsqueeze(-1).repeat(1, coord.shape[1])
    sampled = value[index, :, coord[..., 1], coord[..., 0]]  # (BH, Q * P, d)
    return sampled.permute(0, 2, 1).reshape(rows, value.shape[1], queries, points)


def deformable_attention(
    value: torch.Tensor,
    shapes: Shapes,
    locations: torch.Tensor,
    weights: torch.Tensor,
    points: Sequence[int],
    method: str = "default",
) -> torch.Tensor:
    """``value`` (B, N, heads, d), ``locations`` (B, Q, heads, sum(points), 2) in [0, 1], ``weights``
    (B, Q, heads, sum(points)), ``points`` per level -> (B, Q, heads * d)."""
    bs, _, heads, dim = value.shape
    queries, total = locations.shape[1], locations.shape[3]
    values = value.permute(0, 2, 3, 1).flatten(0, 1).split([h * w for h, w in shapes], dim=-1)
    grids = locations if method == "discrete" else 2 * locations - 1
    grids = grids.permute(0, 2, 1, 3, 4).flatten(0, 1).split(list(points), dim=-2)
    sampled = []
    for level, (h, w) in enumerate(shapes):
        level_value = values[level].reshape(bs * heads, dim, h, w)
        if method == "discrete":
            sampled.append(_discrete(level_value, grids[level], h, w))
        else:
            sampled.append(
                F.grid_sample(
                    level_value, grids[level], mode="bilinear", padding_mode="zeros", align_corners=False
                )
            )
    weights = weights.permute(0, 2, 1, 3).reshape(bs * heads, 1, queries, total)
    out = (torch.cat(sampled, dim=-1) * weights).sum(-1).view(bs, heads * dim, queries)
    return out.transpose(1, 2).contiguous()


def query_anchors(shapes: Shapes, like: torch.Tensor, grid_size: float = 0.05, eps: float = 1e-2):
    """Per feature cell, a box at its centre (size ``grid_size * 2**level``) in logit space, and
    which cells are valid (every coordinate within ``(eps, 1 - eps)``); invalid ones are +inf."""
    anchors = []
    for i, (h, w) in enumerate(shapes):
        rows, cols = torch.arange(h).type_as(like), torch.arange(w).type_as(like)
        gy, gx = torch.meshgrid(rows, cols, indexing="ij")
        xy = torch.stack([(gx + 0.5) / w, (gy + 0.5) / h], -1)[None]
        anchors.append(torch.cat([xy, torch.full_like(xy, grid_size * 2.0**i)], -1).view(-1, h * w, 4))
    cat = torch.cat(anchors, 1)
    valid = ((cat > eps) & (cat < 1 - eps)).all(-1, keepdim=True)
    return torch.log(cat / (1 - cat)).masked_fill(~valid, float("inf")), valid


def cxcywh_to_pixels(boxes: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Normalized cx, cy, w, h boxes -> x1, y1, x2, y2 in the pixels of the input ``x`` (B, C, H, W)."""
    height, width = x.shape[-2:]
    size = torch.tensor([width, height, width, height], dtype=boxes.dtype)
    centre, half = boxes[..., :2], boxes[..., 2:] / 2
    return torch.cat((centre - half, centre + half), -1) * size
