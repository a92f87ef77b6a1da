"""Per-family pipelines: an ordered list of passes plus the target's head options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Sequence, Tuple

from edgekit.contract.decode import topk_end2end
from edgekit.contract.model import ModelInfo
from edgekit.registry import Registry
from edgekit.reparam.head_passes import End2EndPass, OutputFormPass
from edgekit.reparam.heads import check_dfl, default_dfl
from edgekit.reparam.passes import ConvBnFoldPass, DeployFormPass
from edgekit.reparam.protocol import Pass
from edgekit.vocab import DECODED_FORMS, DFL_MODES

OUTPUT_CHOICES = ("raw", *DECODED_FORMS, "end2end")


@dataclass(frozen=True)
class ReparamOptions:
    """How the inference head is shaped, chosen per target.

    ``output``: ``raw`` (the family's per-level logits, nothing decoded), ``split`` (boxes,
    scores), ``concat`` (one tensor) or ``end2end`` (top-k ``(B, max_det, 6)``; NMS-free heads).
    ``dfl``: ``fused`` / ``host`` / ``none``; ``None`` picks ``none`` for bins=1 heads, else ``fused``.
    ``imgsz``: (H, W) the anchors are precomputed for; ``None`` = the model's trained size.
    """

    output: str = "split"
    dfl: Optional[str] = None
    imgsz: Optional[Tuple[int, int]] = None

    def __post_init__(self) -> None:
        if self.output not in OUTPUT_CHOICES:
            raise ValueError(f"unknown output form '{self.output}' (known: {', '.join(OUTPUT_CHOICES)})")
        if self.dfl is not None and self.dfl not in DFL_MODES:
            raise ValueError(f"unknown DFL mode '{self.dfl}' (known: {', '.join(DFL_MODES)})")


@dataclass
class Pipeline:
    """The passes ``reparameterize`` applies, in order."""

    passes: List[Pass] = field(default_factory=list)
    name: str = ""

    def names(self) -> List[str]:
        return [p.name for p in self.passes]

    def describe(self) -> List[str]:
        """One line per pass (``edgekit inspect --plan``)."""
        return [p.describe() for p in self.passes]

    def run(self, model: Any, sample_inputs: Any, **kwargs: Any):
        """``reparameterize(model, self, sample_inputs, **kwargs)``."""
        from edgekit.reparam.walker import reparameterize

        return reparameterize(model, self, sample_inputs, **kwargs)


def head_passes(info: ModelInfo, options: ReparamOptions) -> List[Pass]:
    """The output-form pass the options ask for (none for ``raw``)."""
    imgsz = tuple(options.imgsz or info.imgsz)
    dfl = options.dfl or default_dfl(info.head)
    check_dfl(info.head, dfl)
    if options.output == "raw":
        return []
    if options.output == "end2end":
        if not info.head.end2end:
            raise ValueError(f"{info.variant} has an NMS head: output 'end2end' needs an NMS-free model")
        return [End2EndPass(info.head, imgsz, dfl)]  # type: ignore[arg-type]
    return [OutputFormPass(info.head, imgsz, dfl, options.output)]  # type: ignore[arg-type]


def standard_pipeline(info: ModelInfo, options: ReparamOptions, structural: Sequence[Pass] = ()) -> Pipeline:
    """Family structural passes (PGI strip, drops, ...) -> deploy forms -> Conv+BN fold -> head.

    A query head's raw outputs are compared as its ranked rows (:func:`query_rows`) up to the head."""
    body: List[Pass] = [*structural, DeployFormPass(), ConvBnFoldPass()]
    if info.head.queries:
        for p in body:
            p.view = (query_rows(info.head.queries), ("detections",))
    return Pipeline([*body, *head_passes(info, options)], name=info.family)


def query_rows(queries: int) -> Callable[[Any], Any]:
    """A query head's raw ``(boxes, logits)`` as the top-k rows over queries x classes (k = the query
    count): the queries' order follows encoder scores that tie within float noise, so two equal
    models may list the same queries in another order; as rows (matched as detections) they agree."""

    def rows(outputs: Any) -> Any:
        boxes, logits = outputs
        return (topk_end2end(boxes, logits.sigmoid(), queries),)

    return rows


#: family name -> ``factory(info, options) -> Pipeline``; families register theirs
PIPELINES: Registry[Callable[[ModelInfo, ReparamOptions], Pipeline]] = Registry("reparameterization pipeline")
