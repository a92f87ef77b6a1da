"""Passes that change the output structure on purpose: decoded head forms and the NMS-free top-k.

Both wrap the root model and map the expected raw outputs through ``edgekit.contract.decode``
(:meth:`reference_transform`), so the walker still compares numbers.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

from torch import nn

from edgekit.contract.decode import decode, topk_end2end
from edgekit.contract.model import HeadSpec
from edgekit.reparam.heads import (
    DecodedHead,
    End2EndHead,
    QueryHead,
    check_dfl,
    default_dfl,
    reference_outputs,
)
from edgekit.reparam.protocol import PASSES, Pass, PassResult
from edgekit.reparam.task_heads import TaskHead, task_reference

WRAPPED = (DecodedHead, End2EndHead, TaskHead, QueryHead)

#: what each decoded head output means, for verification (``edgekit.verify.tensors``)
OUTPUT_ROLES = {
    "boxes": "boxes",
    "scores": "scores",
    "box_dist": "raw",
    "detections": "boxes_scores",
    "mask_coefficients": "raw",
    "prototypes": "raw",
    "keypoints": "keypoints",
    "keypoint_scores": "keypoint_scores",
    "rboxes": "rboxes",
}


def _wrap(model: nn.Module, head: HeadSpec, imgsz: Tuple[int, int], dfl: str, output: str) -> nn.Module:
    """The decoded form of ``model``: ``DecodedHead`` / ``End2EndHead``, ``TaskHead`` for a task,
    ``QueryHead`` for a query head."""
    if head.queries:
        return QueryHead(model, head, output)
    if head.task != "detect":
        if output == "concat":
            raise ValueError(f"a {head.task} head has no concatenated output form: use 'split'")
        return TaskHead(model, head, imgsz, dfl, end2end=output == "end2end")
    if output == "end2end":
        return End2EndHead(model, head, imgsz, dfl)
    return DecodedHead(model, head, imgsz, dfl, output)


def candidates(wrapped: nn.Module, head: HeadSpec) -> str:
    """How many candidates a decoded form ranks: ``8400 anchors`` or, for a query head, ``300 queries``."""
    count = int(getattr(wrapped, "decoded", wrapped).num_anchors)
    return f"{count} queries" if head.queries else f"{count} anchors"


@PASSES.register("output_form")
class OutputFormPass(Pass):
    """Decode in the graph: DFL mode fused/host/none, boxes+scores split or concatenated."""

    name = "output_form"

    def __init__(
        self, head: HeadSpec, imgsz: Tuple[int, int], dfl: Optional[str] = None, output: str = "split"
    ):
        self.head, self.imgsz, self.output = head, tuple(imgsz), output
        self.dfl = dfl or default_dfl(head)
        check_dfl(head, self.dfl)

    def applies(self, model: nn.Module) -> bool:
        return not isinstance(model, WRAPPED)

    def run(self, model: nn.Module) -> PassResult:
        wrapped = _wrap(model, self.head, self.imgsz, self.dfl, self.output)
        names = wrapped.output_names
        self.roles = [OUTPUT_ROLES[n] for n in names]
        detail = f"dfl={self.dfl}, output={self.output} -> {', '.join(names)}"
        return PassResult(changed=1, details=[f"{candidates(wrapped, self.head)}, {detail}"], model=wrapped)

    def reference_transform(self, outputs: Any) -> Any:
        if self.head.task != "detect":
            return task_reference(outputs, self.head)
        return reference_outputs(outputs, self.head, self.dfl, self.output)


@PASSES.register("end2end")
class End2EndPass(Pass):
    """NMS-free output: decoded boxes then the two-stage top-k -> (B, max_det, 6)."""

    name = "end2end"
    roles = ("detections",)  # top-k rows, matched as detections (rank swaps among ties allowed)

    def __init__(self, head: HeadSpec, imgsz: Tuple[int, int], dfl: Optional[str] = None):
        self.head, self.imgsz = head, tuple(imgsz)
        self.dfl = dfl or default_dfl(head)
        check_dfl(head, self.dfl)

    def applies(self, model: nn.Module) -> bool:
        return not isinstance(model, WRAPPED)

    def run(self, model: nn.Module) -> PassResult:
        wrapped = _wrap(model, self.head, self.imgsz, self.dfl, "end2end")
        if isinstance(wrapped, TaskHead):  # the top-k rows, then the prototypes of a segmentation
            self.roles = tuple(
                "raw" if r == "prototypes" else r for _, r in wrapped.outputs_for(self.head, True)
            )
        detail = f"top-{self.head.max_det} of {candidates(wrapped, self.head)}, dfl={self.dfl}"
        return PassResult(changed=1, details=[detail], model=wrapped)

    def reference_transform(self, outputs: Any) -> Any:
        if self.head.task != "detect":
            return task_reference(outputs, self.head, end2end=True)
        boxes, scores = decode(outputs, self.head)
        return topk_end2end(boxes, scores, self.head.max_det)
