"""Inference head forms around a raw-convention model: in-graph decode, DFL mode, output layout.

DFL modes (``HeadSpec.bins`` decides which are allowed):

- ``fused``: softmax over the bins and the expectation (a frozen (1, bins) MatMul with
  ``0..bins-1``) run in the graph; boxes come out decoded.
- ``host``: the graph returns the raw distribution logits ``(B, N, 4 * bins)`` (side-major:
  channel ``side * bins + bin``, sides l, t, r, b); the host decoder applies the DFL only to
  the candidates above its score threshold.
- ``none``: heads with ``bins == 1`` (the box channels already hold ltrb distances).

Anchors are precomputed buffers for one input size: the graph has no shape-dependent ops.
"""

from __future__ import annotations

from typing import ClassVar, List, Optional, Sequence, Tuple

import torch
from torch import nn

from edgekit.contract.decode import RawHeadOutput, decode, flatten_levels, make_anchors, topk_end2end
from edgekit.contract.model import HeadSpec
from edgekit.vocab import DECODED_FORMS, DFL_MODES


def default_dfl(head: HeadSpec) -> str:
    """``none`` for a head without DFL, else ``fused``."""
    return "none" if head.bins == 1 else "fused"


def check_dfl(head: HeadSpec, dfl: str) -> None:
    if dfl not in DFL_MODES:
        raise ValueError(f"unknown DFL mode '{dfl}' (known: {', '.join(DFL_MODES)})")
    if head.bins == 1 and dfl != "none":
        raise ValueError(f"DFL mode '{dfl}' needs a DFL head; this head has bins=1: use 'none'")
    if head.bins > 1 and dfl == "none":
        raise ValueError(f"this head has a {head.bins}-bin DFL: use 'fused' or 'host', not 'none'")


def probe_levels(model: nn.Module, imgsz: Tuple[int, int], bins: int) -> Tuple[List[Tuple[int, int]], int]:
    """Run ``model`` once on a ``1x3xHxW`` input: its per-level (H, W) and class count."""
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None else torch.float32
    with torch.no_grad():
        out = model(torch.zeros(1, 3, *imgsz, dtype=dtype))
    box_levels, cls_levels = out[0], out[1]  # a task model's third element: its task tensors
    channels = sorted({int(t.shape[1]) for t in box_levels})
    if channels != [4 * bins]:
        raise ValueError(f"the head spec says 4 x {bins} box channels (DFL bins), the model has {channels}")
    return [(int(t.shape[2]), int(t.shape[3])) for t in box_levels], int(cls_levels[0].shape[1])


class DecodedHead(nn.Module):
    """``model`` (raw convention) followed by decoding.

    Outputs (``N`` anchors over all levels, P3 first, row-major):

    - ``split``: ``(boxes (B, N, 4) xyxy pixels, scores (B, N, nc))``; with ``dfl='host'``
      ``(box_dist (B, N, 4 * bins) logits, scores)``.
    - ``concat``: one tensor ``(B, N, 4 + nc)`` (``(B, N, 4 * bins + nc)`` with ``host``).
    """

    def __init__(
        self,
        model: nn.Module,
        head: HeadSpec,
        imgsz: Tuple[int, int],
        dfl: Optional[str] = None,
        output: str = "split",
        level_shapes: Optional[Sequence[Tuple[int, int]]] = None,
    ) -> None:
        super().__init__()
        dfl = dfl or default_dfl(head)
        check_dfl(head, dfl)
        if output not in DECODED_FORMS:
            raise ValueError(f"unknown output form '{output}' (known: {', '.join(DECODED_FORMS)})")
        self.model = model
        self.head, self.dfl, self.output, self.bins = head, dfl, output, head.bins
        if level_shapes is None:
            shapes, self.nc = probe_levels(model, imgsz, head.bins)
        else:
            shapes, self.nc = list(level_shapes), head.nc
        if len(shapes) != len(head.strides):
            raise ValueError(
                f"the model has {len(shapes)} detection levels, the head spec {len(head.strides)}"
            )
        self.level_sizes = [h * w for h, w in shapes]
        self.num_anchors = sum(self.level_sizes)
        anchors, strides = make_anchors(shapes, head.strides, head.anchor_offset, torch.float32)
        self.register_buffer("anchors", anchors.unsqueeze(0), persistent=False)  # (1, N, 2) grid units
        self.register_buffer("strides", strides.unsqueeze(0), persistent=False)  # (1, N, 1)
        proj = torch.arange(head.bins, dtype=torch.float32).view(1, head.bins)
        self.register_buffer("dfl_weight", proj, persistent=False)

    @property
    def output_names(self) -> List[str]:
        if self.output == "concat":
            return ["detections"]
        return ["box_dist" if self.dfl == "host" else "boxes", "scores"]

    def _flatten(self, levels: Sequence[torch.Tensor], channels: int) -> torch.Tensor:
        return torch.cat([t.reshape(-1, channels, n) for t, n in zip(levels, self.level_sizes)], 2)

    def _expectation(self, box: torch.Tensor) -> torch.Tensor:
        """(B, 4*bins, N) logits -> (B, 4, N) distances: softmax over the bins, then ``0..bins-1``
        as a (1, bins) MatMul from the left.

        No transpose: Ultralytics' form (transpose, softmax over axis 1, 1x1 conv) costs 1.3 ms of
        a 3 ms YOLO11 at 320 in onnxruntime, this one 25 % less end to end; OpenVINO is unchanged
        (``docs/measurements/2026-12-07-dfl-layout.md``).
        """
        prob = box.reshape(-1, 4, self.bins, self.num_anchors).softmax(2)  # (B, 4, bins, N)
        return (self.dfl_weight @ prob).reshape(-1, 4, self.num_anchors)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        box_levels, cls_levels = self.model(x)
        box = self._flatten(box_levels, 4 * self.bins)  # (B, 4*bins, N)
        scores = self._flatten(cls_levels, self.nc).sigmoid().transpose(1, 2)  # (B, N, nc)
        if self.dfl == "host":
            first = box.transpose(1, 2)
        else:
            dist = (self._expectation(box) if self.dfl == "fused" else box).transpose(1, 2)  # (B, N, 4) ltrb
            first = torch.cat((self.anchors - dist[..., :2], self.anchors + dist[..., 2:]), -1) * self.strides
        if self.output == "concat":
            return (torch.cat((first, scores), -1),)
        return first, scores


class End2EndHead(nn.Module):
    """NMS-free form: decoded boxes then the two-stage top-k -> ``(B, max_det, 6)``
    rows ``x1, y1, x2, y2, score, class``."""

    output_names: ClassVar[List[str]] = ["detections"]

    def __init__(
        self,
        model: nn.Module,
        head: HeadSpec,
        imgsz: Tuple[int, int],
        dfl: Optional[str] = None,
        level_shapes: Optional[Sequence[Tuple[int, int]]] = None,
    ) -> None:
        super().__init__()
        if dfl == "host":
            raise ValueError("an end-to-end head outputs final detections: DFL mode 'host' does not apply")
        self.decoded = DecodedHead(model, head, imgsz, dfl, "split", level_shapes)
        self.max_det = head.max_det

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        boxes, scores = self.decoded(x)
        return topk_end2end(boxes, scores, self.max_det)


class QueryHead(nn.Module):
    """A query head's (``HeadSpec.queries``: RT-DETR) decoded forms: its boxes are pixels already,
    the scores are the sigmoid of its logits. ``split``: ``(boxes (B, Q, 4), scores (B, Q, nc))``;
    ``concat``: ``(B, Q, 4 + nc)``; ``end2end``: the two-stage top-k ``(B, max_det, 6)``."""

    def __init__(self, model: nn.Module, head: HeadSpec, output: str = "split") -> None:
        super().__init__()
        if output not in (*DECODED_FORMS, "end2end"):
            raise ValueError(f"unknown output form '{output}' (known: {', '.join(DECODED_FORMS)}, end2end)")
        self.model, self.output, self.max_det = model, output, head.max_det
        self.num_anchors = head.queries  # one candidate per query

    @property
    def output_names(self) -> List[str]:
        return ["boxes", "scores"] if self.output == "split" else ["detections"]

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        boxes, logits = self.model(x)
        scores = logits.sigmoid()
        if self.output == "end2end":
            return (topk_end2end(boxes, scores, self.max_det),)
        if self.output == "concat":
            return (torch.cat((boxes, scores), -1),)
        return boxes, scores


def reference_outputs(raw: RawHeadOutput, head: HeadSpec, dfl: Optional[str] = None, output: str = "split"):
    """What :class:`DecodedHead` must return for ``raw``, computed with ``edgekit.contract.decode``."""
    dfl = dfl or default_dfl(head)
    boxes, scores = decode(raw, head)
    if dfl == "host":
        boxes = flatten_levels(raw)[0].transpose(1, 2)
    return (torch.cat((boxes, scores), -1),) if output == "concat" else (boxes, scores)
