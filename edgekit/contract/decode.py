"""Reference decoding of a family's raw head output in torch.

Used by golden tests, verification and the exporters' in-graph decode. The numpy
decoders on the device side implement the same arithmetic (``edgekit.decoding``).
"""

from __future__ import annotations

from typing import List, Tuple

import torch

from edgekit.contract.model import HeadSpec

RawHeadOutput = Tuple[List[torch.Tensor], List[torch.Tensor]]


def make_anchors(
    shapes: List[Tuple[int, int]], strides: Tuple[int, ...], offset: float, dtype: torch.dtype
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Anchor points (N, 2) in grid units (x, y) and per-anchor stride (N, 1), P3->P5 row-major."""
    points, stride_col = [], []
    for (h, w), s in zip(shapes, strides):
        ys = torch.arange(h, dtype=dtype) + offset
        xs = torch.arange(w, dtype=dtype) + offset
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack((gx, gy), -1).reshape(-1, 2))
        stride_col.append(torch.full((h * w, 1), float(s), dtype=dtype))
    return torch.cat(points), torch.cat(stride_col)


def dfl_expectation(box: torch.Tensor, bins: int) -> torch.Tensor:
    """(B, 4*bins, N) distribution logits -> (B, 4, N) expected distance (identity if bins == 1)."""
    if bins == 1:
        return box
    b, _, n = box.shape
    prob = box.view(b, 4, bins, n).softmax(2)
    proj = torch.arange(bins, dtype=box.dtype, device=box.device).view(1, 1, bins, 1)
    return (prob * proj).sum(2)


def flatten_levels(raw: RawHeadOutput) -> Tuple[torch.Tensor, torch.Tensor, List[Tuple[int, int]]]:
    """Concatenate per-level maps to (B, 4*bins, N) and (B, nc, N)."""
    box_levels, cls_levels = raw
    shapes = [(t.shape[2], t.shape[3]) for t in box_levels]
    box = torch.cat([t.flatten(2) for t in box_levels], 2)
    cls = torch.cat([t.flatten(2) for t in cls_levels], 2)
    return box, cls, shapes


def decode(raw: RawHeadOutput, head: HeadSpec) -> Tuple[torch.Tensor, torch.Tensor]:
    """Raw head output -> boxes (B, N, 4) xyxy in input pixels and scores (B, N, nc) in [0, 1]."""
    box, cls, shapes = flatten_levels(raw)
    anchors, strides = make_anchors(shapes, head.strides, head.anchor_offset, box.dtype)
    dist = dfl_expectation(box, head.bins).transpose(1, 2)  # (B, N, 4) ltrb in grid units
    lt, rb = dist[..., :2], dist[..., 2:]
    boxes = torch.cat((anchors - lt, anchors + rb), -1) * strides
    return boxes, cls.sigmoid().transpose(1, 2)


def topk_end2end(boxes: torch.Tensor, scores: torch.Tensor, max_det: int) -> torch.Tensor:
    """NMS-free post-process (two-stage top-k, as YOLOv10/YOLO26): -> (B, K, 6) xyxy, score, class."""
    _b, n, nc = scores.shape
    k = min(max_det, n)
    best, _ = scores.max(-1)
    idx = best.topk(k, dim=1).indices  # stage 1: anchors by their best class score
    boxes = boxes.gather(1, idx.unsqueeze(-1).expand(-1, -1, 4))
    scores = scores.gather(1, idx.unsqueeze(-1).expand(-1, -1, nc))
    flat_scores, flat_idx = scores.flatten(1).topk(k, dim=1)  # stage 2: anchor x class pairs
    anchor = flat_idx // nc
    cls = (flat_idx % nc).to(boxes.dtype)
    boxes = boxes.gather(1, anchor.unsqueeze(-1).expand(-1, -1, 4))
    return torch.cat((boxes, flat_scores.unsqueeze(-1), cls.unsqueeze(-1)), -1)
