"""Passes that change the output structure on purpose: decoded head forms and the NMS-free top-k.

Both wrap the root model and map the expected raw outputs through ``edgekit.models.decode``
(:meth:`reference_transform`), so the walker still compares numbers.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from edgekit.errors import VerificationError
from edgekit.models.base import HeadSpec
from edgekit.models.decode import decode, topk_end2end
from edgekit.reparam.heads import DecodedHead, End2EndHead, check_dfl, default_dfl, reference_outputs
from edgekit.reparam.protocol import PASSES, Pass, PassResult
from edgekit.verify import max_rel_error


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
        detail = f"dfl={self.dfl}, output={self.output} -> {', '.join(wrapped.output_names)}"
        return PassResult(changed=1, details=[f"{wrapped.num_anchors} anchors, {detail}"], model=wrapped)

    def reference_transform(self, outputs: Any) -> Any:
        return reference_outputs(outputs, self.head, self.dfl, self.output)


def compare_topk(actual: torch.Tensor, expected: torch.Tensor, tol: float) -> Dict[str, float]:
    """Compare ``(B, K, 6)`` top-k detections, tolerant to rank swaps among near-equal scores.

    The score column is sorted, so it is compared directly. Boxes and classes are compared
    only on rows whose score is separated from both neighbours by more than ``10 * tol``
    (relative): among near-ties a tiny, allowed difference may legitimately reorder rows.
    The last row is never compared (its neighbour outside the top-k is not visible).
    """
    if actual.shape != expected.shape:
        raise VerificationError(f"top-k detections of shape {tuple(actual.shape)} != {tuple(expected.shape)}")
    score_a, score_e = actual[..., 4], expected[..., 4]
    gap = 10 * tol * float(score_e.abs().max().clamp_min(1e-12))
    diffs = (score_e[:, 1:] - score_e[:, :-1]).abs()
    clear = torch.zeros_like(score_e, dtype=torch.bool)
    clear[:, 1:-1] = (diffs[:, :-1] > gap) & (diffs[:, 1:] > gap)
    if score_e.shape[1] > 1:
        clear[:, 0] = diffs[:, 0] > gap
    errors = {"scores": max_rel_error(score_a, score_e)}
    if bool(clear.any()):
        errors["boxes"] = max_rel_error(actual[..., :4][clear], expected[..., :4][clear])
        same = torch.equal(actual[..., 5][clear], expected[..., 5][clear])
        errors["classes"] = 0.0 if same else float("inf")
    return errors


@PASSES.register("end2end")
class End2EndPass(Pass):
    """NMS-free output: decoded boxes then the two-stage top-k -> (B, max_det, 6)."""

    name = "end2end"

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

    def compare(self, actual: Any, expected: Any, tol: float) -> Dict[str, float]:
        return compare_topk(actual, expected, tol)
