"""Inference head forms of the task models (segment, pose, obb), decoded in the graph.

The task model returns edgekit's raw task convention (``edgekit.contract.model``); this head
decodes it as ``DecodedHead`` does the boxes (DFL fused, anchors as buffers) and adds what the
task needs, per anchor ``(B, N, C)``, ``N`` anchors P3 first:

- ``segment``: ``boxes`` (xyxy), ``scores``, ``mask_coefficients`` (nm), and ``prototypes``
  ``(B, nm, Hp, Wp)`` (image-wide; the host multiplies only the kept detections' coefficients);
- ``pose``: ``boxes``, ``scores``, ``keypoints`` (K x (x, y) in input pixels) and, when the model
  predicts visibility, ``keypoint_scores`` (K probabilities: each bounded as a probability);
- ``obb``: ``rboxes`` (centre x, y, width, height in pixels and the angle in radians), ``scores``.

The NMS-free form (``end2end``) returns the top-k rows ``(B, K, 6 + E)``: the box (xyxy; for OBB
centre and size), score, class, then the task's E values of that anchor (mask coefficients,
keypoints as the peer lays them out: x, y[, visibility] per keypoint; the angle), plus
``prototypes`` for segmentation.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from edgekit.contract.decode import decode_task, topk_end2end
from edgekit.contract.model import HeadSpec
from edgekit.reparam.heads import DecodedHead, default_dfl

#: each task's outputs (the prototypes last, image-wide); pose: ``keypoint_scores`` when the
#: keypoints carry a visibility
TASK_OUTPUTS: Dict[str, Tuple[str, ...]] = {
    "segment": ("boxes", "scores", "mask_coefficients", "prototypes"),
    "pose": ("boxes", "scores", "keypoints", "keypoint_scores"),
    "obb": ("rboxes", "scores"),
}


def check_task_dfl(head: HeadSpec, dfl: Optional[str]) -> str:
    dfl = dfl or default_dfl(head)
    if dfl == "host":
        raise ValueError(f"a {head.task} head decodes its boxes in the graph: DFL mode 'host' does not apply")
    return dfl


class TaskHead(nn.Module):
    """A task model followed by decoding; ``end2end``: the NMS-free top-k rows instead."""

    def __init__(
        self,
        model: nn.Module,
        head: HeadSpec,
        imgsz: Tuple[int, int],
        dfl: Optional[str] = None,
        end2end: bool = False,
        level_shapes: Optional[Sequence[Tuple[int, int]]] = None,
    ) -> None:
        super().__init__()
        if head.task not in TASK_OUTPUTS:
            raise ValueError(f"TaskHead decodes {', '.join(TASK_OUTPUTS)} heads, not '{head.task}'")
        self.decoded = DecodedHead(model, head, imgsz, check_task_dfl(head, dfl), "split", level_shapes)
        self.head, self.end2end = head, end2end

    @staticmethod
    def outputs_for(head: HeadSpec, end2end: bool) -> List[Tuple[str, str]]:
        """(name, role) of each output of ``head``'s task form, in order (roles of the manifest)."""
        if end2end:
            rows = ("detections", "rotated_detections" if head.task == "obb" else "detections")
            return [rows, ("prototypes", "prototypes")] if head.task == "segment" else [rows]
        names = TASK_OUTPUTS[head.task]
        if head.task == "pose" and head.keypoints[1] < 3:
            names = names[:-1]
        return [(name, name) for name in names]

    @property
    def output_names(self) -> List[str]:
        return [name for name, _ in self.outputs_for(self.head, self.end2end)]

    def _distances(self, box_levels: Sequence[torch.Tensor]) -> torch.Tensor:
        d = self.decoded
        box = d._flatten(box_levels, 4 * d.bins)
        return (d._expectation(box) if d.dfl == "fused" else box).transpose(1, 2)  # (B, N, 4) ltrb

    def _keypoints(self, levels: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """(B, N, K, 2) pixels and (B, N, K, 1) visibility (None without one)."""
        d, (k, dims) = self.decoded, self.head.keypoints
        raw = d._flatten(levels, k * dims).transpose(1, 2).reshape(-1, d.num_anchors, k, dims)
        anchors, strides = d.anchors.unsqueeze(2), d.strides.unsqueeze(2)  # (1, N, 1, 2|1)
        if self.head.keypoint_decode == "v8":
            xy = (raw[..., :2] * 2.0 + (anchors - 0.5)) * strides
        else:
            xy = (raw[..., :2] + anchors) * strides
        return xy, (raw[..., 2:3].sigmoid() if dims == 3 else None)

    def _rotated(
        self, dist: torch.Tensor, angle_levels: Sequence[torch.Tensor]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """(B, N, 4) centre and size in pixels, (B, N, 1) angle in radians (kept apart: OpenVINO
        misreads a slice of their concatenation when it feeds the top-k's gathers)."""
        d = self.decoded
        raw = d._flatten(angle_levels, 1).transpose(1, 2)  # (B, N, 1)
        angle = (raw.sigmoid() - 0.25) * torch.pi if self.head.angle_decode == "sigmoid" else raw
        half = (dist[..., 2:] - dist[..., :2]) / 2
        cos, sin = torch.cos(angle), torch.sin(angle)
        dx = half[..., :1] * cos - half[..., 1:] * sin
        dy = half[..., :1] * sin + half[..., 1:] * cos
        centre = (torch.cat((dx, dy), -1) + d.anchors) * d.strides
        size = (dist[..., :2] + dist[..., 2:]) * d.strides
        return torch.cat((centre, size), -1), angle

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        d = self.decoded
        box_levels, cls_levels, extra = d.model(x)
        scores = d._flatten(cls_levels, d.nc).sigmoid().transpose(1, 2)  # (B, N, nc)
        dist = self._distances(box_levels)
        task = self.head.task
        if task == "obb":
            xywh, angle = self._rotated(dist, extra["angle"])
            if self.end2end:
                return (topk_end2end(xywh, scores, self.head.max_det, angle),)
            return torch.cat((xywh, angle), -1), scores
        boxes = torch.cat((d.anchors - dist[..., :2], d.anchors + dist[..., 2:]), -1) * d.strides
        if task == "segment":
            coeffs = d._flatten(extra["masks"], self.head.masks).transpose(1, 2)
            if self.end2end:
                return topk_end2end(boxes, scores, self.head.max_det, coeffs), extra["proto"]
            return boxes, scores, coeffs, extra["proto"]
        xy, seen = self._keypoints(extra["keypoints"])
        if self.end2end:
            values = torch.cat((xy, seen), -1) if seen is not None else xy
            return (topk_end2end(boxes, scores, self.head.max_det, values.flatten(2)),)
        pose = (boxes, scores, xy.flatten(2))
        return (*pose, seen.flatten(2)) if seen is not None else pose


def task_reference(raw: Sequence, head: HeadSpec, end2end: bool = False) -> Tuple[torch.Tensor, ...]:
    """What :class:`TaskHead` must return for ``raw``, from ``edgekit.contract.decode``."""
    out = decode_task(raw, head)  # type: ignore[arg-type]
    if head.task == "obb":
        rboxes = torch.cat((out["xywh"], out["angle"]), -1)
        if end2end:
            return (topk_end2end(out["xywh"], out["scores"], head.max_det, out["angle"]),)
        return rboxes, out["scores"]
    values = out["keypoints"] if head.task == "pose" else out["masks"]
    if end2end:
        rows = topk_end2end(out["boxes"], out["scores"], head.max_det, values)
        return (rows, out["proto"]) if head.task == "segment" else (rows,)
    if head.task == "segment":
        return out["boxes"], out["scores"], values, out["proto"]
    k, dims = head.keypoints
    points = values.reshape(*values.shape[:2], k, dims)
    xy = points[..., :2].flatten(2)
    return (
        (out["boxes"], out["scores"], xy, points[..., 2]) if dims == 3 else (out["boxes"], out["scores"], xy)
    )


__all__ = ["TASK_OUTPUTS", "TaskHead", "task_reference"]
