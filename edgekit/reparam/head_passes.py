"""Passes that change the output structure on purpose: decoded head forms and the NMS-free top-k.

Both wrap the root model and map the expected raw outputs through ``edgekit.contract.decode``
(:meth:`reference_transform`), so the walker still compares numbers.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

from torch import nn

from edgekit.contract.decode import decode, topk_end2end
from edgekit.contract.model import HeadSpec
from edgekit.reparam.heads import DecodedHead, End2EndHead, check_dfl, default_dfl, reference_outputs
from edgekit.reparam.protocol import PASSES, Pass, PassResult

#: what each decoded head output means, for verification (``edgekit.verify.tensors``)
OUTPUT_ROLES = {"boxes": "boxes", "scores": "scores", "box_dist": "raw", "detections": "boxes_scores"}


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
        return not isinstance(model, (DecodedHead, End2EndHead))

    def run(self, model: nn.Module) -> PassResult:
        wrapped = DecodedHead(model, self.head, self.imgsz, self.dfl, self.output)  # type: ignore[arg-type]
        self.roles = [OUTPUT_ROLES[n] for n in wrapped.output_names]
        detail = f"dfl={self.dfl}, output={self.output} -> {', '.join(wrapped.output_names)}"
        return PassResult(changed=1, details=[f"{wrapped.num_anchors} anchors, {detail}"], model=wrapped)

    def reference_transform(self, outputs: Any) -> Any:
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
        return not isinstance(model, (DecodedHead, End2EndHead))

    def run(self, model: nn.Module) -> PassResult:
        wrapped = End2EndHead(model, self.head, self.imgsz, self.dfl)  # type: ignore[arg-type]
        detail = f"top-{self.head.max_det} of {wrapped.decoded.num_anchors} anchors, dfl={self.dfl}"
        return PassResult(changed=1, details=[detail], model=wrapped)

    def reference_transform(self, outputs: Any) -> Any:
        boxes, scores = decode(outputs, self.head)
        return topk_end2end(boxes, scores, self.head.max_det)
