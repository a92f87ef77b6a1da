"""Reference decoding of a family's raw head output in torch.

Used by golden tests, verification and the exporters' in-graph decode. The numpy
decoders on the device side implement the same arithmetic (``edgekit.decoding``).
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple, Union

import torch

from edgekit.contract.model import HeadSpec

RawHeadOutput = Tuple[List[torch.Tensor], List[torch.Tensor]]
#: a task head's raw output: box levels, class levels, the task's tensors (``edgekit.contract.model``)
TaskRawOutput = Tuple[
    List[torch.Tensor], List[torch.Tensor], Dict[str, Union[torch.Tensor, List[torch.Tensor]]]
]


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


def _distances(
    raw: RawHeadOutput, head: HeadSpec
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ltrb distances (B, N, 4) in grid units, class logits (B, nc, N), anchors (N, 2), strides (N, 1))."""
    box, cls, shapes = flatten_levels((raw[0], raw[1]))
    anchors, strides = make_anchors(shapes, head.strides, head.anchor_offset, box.dtype)
    return dfl_expectation(box, head.bins).transpose(1, 2), cls, anchors, strides


def decode(raw: RawHeadOutput, head: HeadSpec) -> Tuple[torch.Tensor, torch.Tensor]:
    """Raw head output -> boxes (B, N, 4) xyxy in input pixels and scores (B, N, nc) in [0, 1].

    A task head's output (three elements) decodes the same way: its task tensors are ignored here.
    A query head's (``head.queries``) boxes are decoded already: only its logits need the sigmoid.
    """
    if head.queries:
        return raw[0], raw[1].sigmoid()
    dist, cls, anchors, strides = _distances(raw, head)
    lt, rb = dist[..., :2], dist[..., 2:]
    boxes = torch.cat((anchors - lt, anchors + rb), -1) * strides
    return boxes, cls.sigmoid().transpose(1, 2)


def flatten_task(levels: List[torch.Tensor]) -> torch.Tensor:
    """Per-level task maps (B, C, H, W) -> (B, N, C), anchors P3 first, row-major."""
    return torch.cat([t.flatten(2) for t in levels], 2).transpose(1, 2)


def decode_keypoints(levels: List[torch.Tensor], head: HeadSpec) -> torch.Tensor:
    """Raw keypoint levels -> (B, N, nk) in input pixels; per keypoint x, y[, visibility in [0, 1]].

    ``head.keypoint_decode``: ``v8`` = ``(2 * raw + anchor - 0.5) * stride``, ``v26`` =
    ``(raw + anchor) * stride`` (anchor at the cell centre, in grid units).
    """
    n, dims = head.keypoints
    shapes = [(t.shape[2], t.shape[3]) for t in levels]
    kpts = flatten_task(levels)
    anchors, strides = make_anchors(shapes, head.strides, head.anchor_offset, kpts.dtype)
    k = kpts.view(*kpts.shape[:2], n, dims)
    if head.keypoint_decode == "v8":
        xy = (k[..., :2] * 2.0 + (anchors - 0.5).unsqueeze(1)) * strides.unsqueeze(1)
    elif head.keypoint_decode == "v26":
        xy = (k[..., :2] + anchors.unsqueeze(1)) * strides.unsqueeze(1)
    else:
        raise ValueError(f"unknown keypoint decode '{head.keypoint_decode}'")
    parts = [xy, k[..., 2:3].sigmoid()] if dims == 3 else [xy]
    return torch.cat(parts, -1).flatten(2)


def decode_angle(levels: List[torch.Tensor], head: HeadSpec) -> torch.Tensor:
    """Raw angle levels -> (B, N, 1) radians (``sigmoid``: (sigmoid(raw) - 0.25) * pi; ``raw``: as is)."""
    raw = flatten_task(levels)
    if head.angle_decode == "sigmoid":
        return (raw.sigmoid() - 0.25) * math.pi
    if head.angle_decode == "raw":
        return raw
    raise ValueError(f"unknown angle decode '{head.angle_decode}'")


def decode_rotated(
    raw: RawHeadOutput, angle: torch.Tensor, head: HeadSpec
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Oriented boxes: (B, N, 4) centre x, y and width, height in pixels (rotated by ``angle``
    (B, N, 1) radians), and scores (B, N, nc). The ltrb distances are measured in the box's own
    frame: the centre offset ((r - l) / 2, (b - t) / 2) is rotated, the size is l + r, t + b."""
    dist, cls, anchors, strides = _distances(raw, head)
    lt, rb = dist[..., :2], dist[..., 2:]
    half = (rb - lt) / 2
    cos, sin = torch.cos(angle), torch.sin(angle)
    dx = half[..., :1] * cos - half[..., 1:] * sin
    dy = half[..., :1] * sin + half[..., 1:] * cos
    centre = torch.cat((dx, dy), -1) + anchors
    return torch.cat((centre, lt + rb), -1) * strides, cls.sigmoid().transpose(1, 2)


def decode_task(raw: TaskRawOutput, head: HeadSpec) -> Dict[str, torch.Tensor]:
    """A task head's raw output decoded, per anchor (B, N, .), as Ultralytics' eval output holds it.

    ``segment``: ``boxes`` (xyxy), ``scores``, ``masks`` (coefficients) and ``proto`` (B, nm, Hp, Wp);
    ``pose``: ``boxes``, ``scores``, ``keypoints`` (pixels, visibility in [0, 1]);
    ``obb``: ``xywh`` (rotated box centre and size), ``scores``, ``angle`` (radians).
    """
    extra = raw[2] if len(raw) > 2 else {}
    if head.task == "obb":
        angle = decode_angle(extra["angle"], head)
        xywh, scores = decode_rotated(raw, angle, head)
        return {"xywh": xywh, "scores": scores, "angle": angle}
    boxes, scores = decode(raw, head)
    out = {"boxes": boxes, "scores": scores}
    if head.task == "segment":
        out.update(masks=flatten_task(extra["masks"]), proto=extra["proto"])
    elif head.task == "pose":
        out["keypoints"] = decode_keypoints(extra["keypoints"], head)
    return out


def topk_end2end(
    boxes: torch.Tensor, scores: torch.Tensor, max_det: int, extra: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """NMS-free post-process (two-stage top-k, as YOLOv10/YOLO26): -> (B, K, 6) xyxy, score, class.

    ``extra`` (B, N, E) per-anchor task values (mask coefficients, keypoints, angle) are gathered
    with their anchor and appended: (B, K, 6 + E).
    """
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
    out = [boxes, flat_scores.unsqueeze(-1), cls.unsqueeze(-1)]
    if extra is not None:
        extra = extra.gather(1, idx.unsqueeze(-1).expand(-1, -1, extra.shape[-1]))
        out.append(extra.gather(1, anchor.unsqueeze(-1).expand(-1, -1, extra.shape[-1])))
    return torch.cat(out, -1)
