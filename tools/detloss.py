"""Task-aligned assignment and the BCE + CIoU + DFL detection loss (developer tool).

Used by ``tools/train_family.py`` to train edgekit's own YOLOv9 and DAMO-YOLO modules.
Both heads give edgekit's raw convention: per level ``(B, 4 * bins, H, W)`` distance
distributions and ``(B, nc, H, W)`` class logits. The assignment is the task-aligned one
of TOOD as the YOLOv8/YOLOv9 trainers use it (``t = s^alpha * u^beta``, top-k anchors whose
point lies inside the box, one box per anchor by highest IoU); the loss is BCE on
alignment-scaled soft targets, CIoU on the decoded boxes and distribution focal loss on
the two bins around each target distance, weighted by the soft target as in those trainers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F

from edgekit.contract.decode import flatten_levels, make_anchors

Raw = Tuple[List[torch.Tensor], List[torch.Tensor]]
EPS = 1e-9


def box_iou_pairs(a: torch.Tensor, b: torch.Tensor, ciou: bool = False) -> torch.Tensor:
    """IoU (or CIoU) of paired xyxy boxes ``a[..., 4]`` and ``b[..., 4]``."""
    ax1, ay1, ax2, ay2 = a.unbind(-1)
    bx1, by1, bx2, by2 = b.unbind(-1)
    w1, h1 = (ax2 - ax1).clamp(min=0), (ay2 - ay1).clamp(min=0) + 1e-7
    w2, h2 = (bx2 - bx1).clamp(min=0), (by2 - by1).clamp(min=0) + 1e-7
    inter = (torch.min(ax2, bx2) - torch.max(ax1, bx1)).clamp(min=0) * (
        torch.min(ay2, by2) - torch.max(ay1, by1)
    ).clamp(min=0)
    union = w1 * h1 + w2 * h2 - inter + 1e-7
    iou = inter / union
    if not ciou:
        return iou
    cw = torch.max(ax2, bx2) - torch.min(ax1, bx1)
    ch = torch.max(ay2, by2) - torch.min(ay1, by1)
    c2 = cw**2 + ch**2 + 1e-7
    rho2 = ((bx1 + bx2 - ax1 - ax2) ** 2 + (by1 + by2 - ay1 - ay2) ** 2) / 4
    v = (4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + 1e-7))
    return iou - (rho2 / c2 + v * alpha)


@dataclass
class Assignment:
    """Per anchor: foreground mask, target box (pixels, xyxy) and soft class targets."""

    fg: torch.Tensor  # (B, N) bool
    boxes: torch.Tensor  # (B, N, 4)
    scores: torch.Tensor  # (B, N, nc)


@torch.no_grad()
def assign(
    pd_scores: torch.Tensor,
    pd_boxes: torch.Tensor,
    points: torch.Tensor,
    gt_labels: torch.Tensor,
    gt_boxes: torch.Tensor,
    gt_mask: torch.Tensor,
    topk: int = 10,
    alpha: float = 0.5,
    beta: float = 6.0,
) -> Assignment:
    """Task-aligned assignment.

    ``pd_scores`` (B, N, nc) probabilities, ``pd_boxes`` (B, N, 4) and ``points`` (N, 2) in
    pixels; ``gt_labels`` (B, M), ``gt_boxes`` (B, M, 4) pixels, ``gt_mask`` (B, M) bool
    (padding rows False).
    """
    b, n, nc = pd_scores.shape
    m = gt_boxes.shape[1]
    if m == 0:
        zeros = pd_scores.new_zeros
        return Assignment(zeros((b, n), dtype=torch.bool), zeros((b, n, 4)), zeros((b, n, nc)))
    lt, rb = gt_boxes[..., None, :2], gt_boxes[..., None, 2:]  # (B, M, 1, 2)
    inside = torch.cat((points - lt, rb - points), -1).amin(-1) > EPS  # (B, M, N)
    valid = inside & gt_mask[..., None]
    labels = gt_labels.long().clamp(min=0)
    cls_score = pd_scores.gather(2, labels[:, None, :].expand(b, n, m)).transpose(1, 2)  # (B, M, N)
    iou = box_iou_pairs(gt_boxes[:, :, None, :], pd_boxes[:, None, :, :], ciou=True).clamp(min=0)
    iou = torch.where(valid, iou, torch.zeros_like(iou))
    metric = torch.where(valid, cls_score.pow(alpha) * iou.pow(beta), torch.zeros_like(iou))
    k = min(topk, n)
    top_idx = metric.topk(k, dim=-1).indices  # (B, M, k)
    in_top = torch.zeros_like(metric, dtype=torch.bool).scatter_(-1, top_idx, True)
    pos = in_top & valid  # (B, M, N)
    # an anchor claimed by several boxes keeps the one it overlaps most
    multi = pos.sum(1, keepdim=True) > 1
    best = iou.argmax(1, keepdim=True)
    best_mask = torch.zeros_like(pos).scatter_(1, best, True)
    pos = torch.where(multi, best_mask & valid, pos)
    fg = pos.any(1)  # (B, N)
    gt_idx = pos.float().argmax(1)  # (B, N)
    tgt_labels = labels.gather(1, gt_idx)
    tgt_boxes = gt_boxes.gather(1, gt_idx[..., None].expand(b, n, 4))
    metric = metric * pos
    norm = metric * (iou * pos).amax(-1, keepdim=True) / (metric.amax(-1, keepdim=True) + EPS)
    weight = norm.amax(1)  # (B, N)
    scores = F.one_hot(tgt_labels, nc).float() * (weight * fg)[..., None]
    return Assignment(fg, tgt_boxes, scores)


def dfl_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Distribution focal loss: (K, 4, bins) logits, (K, 4) distances in bin units -> (K,)."""
    bins = logits.shape[-1]
    target = target.clamp(0, bins - 1 - 0.01)
    left = target.long()
    wl = left.float() + 1 - target
    flat = logits.reshape(-1, bins)
    ce_l = F.cross_entropy(flat, left.reshape(-1), reduction="none").view(left.shape)
    ce_r = F.cross_entropy(flat, (left + 1).reshape(-1), reduction="none").view(left.shape)
    return (ce_l * wl + ce_r * (1 - wl)).mean(-1)


class DetectionLoss:
    """Loss of one raw head output against a padded batch of boxes.

    ``strides``/``offset`` are the head's (``HeadSpec``); ``bins`` its distribution length.
    """

    def __init__(
        self,
        nc: int,
        strides: Sequence[int],
        bins: int,
        offset: float,
        gains: Tuple[float, float, float] = (7.5, 0.5, 1.5),
    ) -> None:
        self.nc, self.strides, self.bins, self.offset = nc, tuple(strides), bins, offset
        self.gains = gains
        self.proj = torch.arange(bins, dtype=torch.float32)

    def __call__(self, raw: Raw, gt_labels: torch.Tensor, gt_boxes: torch.Tensor) -> Dict[str, torch.Tensor]:
        box, cls, shapes = flatten_levels(raw)  # (B, 4*bins, N), (B, nc, N)
        b, _, n = box.shape
        points, stride = make_anchors(shapes, self.strides, self.offset, box.dtype)  # grid units
        dist_logits = box.view(b, 4, self.bins, n).permute(0, 3, 1, 2)  # (B, N, 4, bins)
        dist = dist_logits.softmax(-1) @ self.proj.to(box.dtype)  # (B, N, 4) grid units
        pred = torch.cat((points - dist[..., :2], points + dist[..., 2:]), -1)  # grid units
        logits = cls.transpose(1, 2)  # (B, N, nc)
        gt_mask = gt_labels >= 0
        a = assign(
            logits.detach().sigmoid(),
            (pred.detach() * stride).to(gt_boxes.dtype),
            points * stride,
            gt_labels,
            gt_boxes,
            gt_mask,
        )
        total = a.scores.sum().clamp(min=1.0)
        loss_cls = F.binary_cross_entropy_with_logits(logits, a.scores, reduction="sum") / total
        zero = box.sum() * 0.0
        loss_box = loss_dfl = zero
        if a.fg.any():
            weight = a.scores.sum(-1)[a.fg]
            target = a.boxes / stride  # grid units
            iou = box_iou_pairs(pred[a.fg], target[a.fg], ciou=True)
            loss_box = ((1.0 - iou) * weight).sum() / total
            pts = points.expand(b, n, 2)[a.fg]
            ltrb = torch.cat((pts - target[a.fg][:, :2], target[a.fg][:, 2:] - pts), -1)
            loss_dfl = (dfl_loss(dist_logits[a.fg], ltrb) * weight).sum() / total
        g_box, g_cls, g_dfl = self.gains
        return {"box": loss_box * g_box, "cls": loss_cls * g_cls, "dfl": loss_dfl * g_dfl}


def init_head_biases(
    box_convs: Sequence[torch.nn.Conv2d],
    cls_convs: Sequence[torch.nn.Conv2d],
    strides: Sequence[int],
    nc: int,
    imgsz: int,
) -> None:
    """YOLO-style prior biases: box logits 1.0, class logits for ~5 objects per image."""
    with torch.no_grad():
        for reg, cls, s in zip(box_convs, cls_convs, strides):
            reg.bias.fill_(1.0)
            cls.bias[:nc].fill_(math.log(5 / nc / (imgsz / s) ** 2))
