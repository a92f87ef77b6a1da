"""The exported graph's head: output layout and the manifest description of its outputs."""

from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import nn

from edgekit.bundle.manifest import DecoderSpec, OutputSpec
from edgekit.contract.model import HeadSpec, ModelInfo
from edgekit.devices import ConversionPlan


class ChannelsFirst(nn.Module):
    """Transpose (B, N, C) outputs to (B, C, N): the host decoder reduces over classes fastest so
    (image-wide outputs, a segmentation model's prototypes, stay as they are)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        out = self.model(x)
        out = out if isinstance(out, (tuple, list)) else (out,)
        return tuple(t.transpose(1, 2) if t.dim() == 3 else t for t in out)


def output_roles(plan: ConversionPlan, head: Optional[HeadSpec] = None) -> List[Tuple[str, str]]:
    """(graph output name, manifest role) in graph order, for the plan's output form and DFL mode
    (a task head's: ``edgekit.reparam.task_heads.TaskHead.outputs_for``)."""
    if head is not None and head.task != "detect":
        from edgekit.reparam.task_heads import TaskHead

        return TaskHead.outputs_for(head, plan.output == "end2end")
    if plan.output == "end2end":
        return [("detections", "detections")]
    if plan.output == "concat":
        return [("output", "boxes_scores")]
    first = ("box_dist", "box_dist") if plan.dfl == "host" else ("boxes", "boxes")
    return [first, ("scores", "scores")]


def reparam_output_form(plan: ConversionPlan) -> str:
    """The ``ReparamOptions.output`` that produces the plan's graph before any NMS is appended."""
    return {"end2end": "end2end", "concat": "concat"}.get(plan.output, "split")


def graph_layout(plan: ConversionPlan) -> str:
    return "BNC" if plan.output == "end2end" else "BCN"


def decoder_spec(plan: ConversionPlan, info: ModelInfo, conf: float, iou: float, max_det: int) -> DecoderSpec:
    head = info.head
    if plan.output == "end2end":
        kind = "nms-free"
    elif plan.nms == "graph":
        kind = "graph-nms"
    elif plan.dfl == "host":
        kind = "host-dfl"
    else:
        kind = "nms"
    return DecoderSpec(
        type=kind,
        conf_threshold=conf,
        iou_threshold=iou,
        max_det=max_det,
        strides=tuple(head.strides),
        bins=head.bins,
        anchor_offset=head.anchor_offset,
        task=head.task,
        masks=head.masks,
        keypoints=tuple(head.keypoints),
    )


def output_specs(
    names_roles: List[Tuple[str, str]], shapes: List[Tuple[str, Tuple]], layout: str, dynamic: bool
) -> Tuple[OutputSpec, ...]:
    """Manifest output entries from the ONNX graph's real output shapes."""
    by_name = dict(shapes)
    specs = []
    for name, role in names_roles:
        shape = list(by_name[name])
        if dynamic and shape:
            shape[0] = None
        dtype = "int64" if role == "nms_indices" else "float32"
        own = "BNC" if role == "nms_indices" else "NCHW" if role == "prototypes" else layout
        specs.append(OutputSpec(name, role, tuple(shape), dtype, None, own))
    return tuple(specs)
