"""What reparameterization did: per pass, counts, verification error, size and speed.

GFLOPs follow ``edgekit.reparam.summary.FLOPS_CONVENTION`` (2 x multiply-accumulates of
convolutions and matmuls, counted by ``torch.utils.flop_counter``; element-wise ops such as
activations, softmax and additions are not counted) for one image of the sample size.
Latency is measured for the train form and the final inference form only, together: the median
wall time of PyTorch on this machine's CPU under ``torch.inference_mode`` at batch 1, timed in
alternating warmed blocks (``edgekit.timing``) so that both meet the same machine; a relative
figure, not a device prediction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

import torch
from torch import nn

from edgekit.reparam.summary import FLOPS_CONVENTION, count_params
from edgekit.timing import Schedule, median_ms
from edgekit.verify import TOLERANCE


@dataclass
class Measurement:
    params: int  # parameter elements
    buffers: int  # buffer elements (BN statistics, anchors, ...)
    gflops: Optional[float] = None
    latency_ms: Optional[float] = None


def measure(model: nn.Module, image: torch.Tensor) -> Measurement:
    """Size and GFLOPs of ``model`` on ``image`` (``1x3xHxW``); latency is set by ``time_forms``."""
    from torch.utils.flop_counter import FlopCounterMode

    params = count_params(model)
    buffers = count_params(model, buffers=True) - params
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(image)
    return Measurement(params, buffers, round(counter.get_total_flops() / 1e9, 4))


def time_forms(models: List[nn.Module], image: torch.Tensor, blocks: int = 3, runs: int = 3) -> List[float]:
    """Median CPU ms of each model on ``image``, timed by the one harness (``edgekit.timing``) in
    ``blocks`` rotating warmed blocks of ``runs`` runs each."""
    schedule = Schedule.quick(blocks, runs)
    with torch.inference_mode():
        return [round(ms, 3) for ms in median_ms([lambda m=m: m(image) for m in models], schedule)]


@dataclass
class PassRecord:
    name: str
    applied: bool
    changed: int = 0
    details: List[str] = field(default_factory=list)
    errors: Dict[str, float] = field(default_factory=dict)  # worst relative error per output
    seconds: float = 0.0
    after: Optional[Measurement] = None

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)


@dataclass
class ReparamReport:
    """Before/after figures and one :class:`PassRecord` per pass, in order."""

    before: Optional[Measurement] = None
    passes: List[PassRecord] = field(default_factory=list)
    tolerance: float = TOLERANCE
    input_shape: List[int] = field(default_factory=list)
    latency_runs: int = 0  # timed runs per block
    latency_blocks: int = 0
    threads: int = 0

    @property
    def after(self) -> Optional[Measurement]:
        measured = [p.after for p in self.passes if p.after is not None]
        return measured[-1] if measured else self.before

    def record(self, name: str) -> PassRecord:
        """The record of the pass called ``name`` (``KeyError`` if none ran)."""
        for p in self.passes:
            if p.name == name:
                return p
        raise KeyError(f"no pass '{name}' in this report (passes: {', '.join(p.name for p in self.passes)})")

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready, for the bundle manifest."""
        return {
            "tolerance": self.tolerance,
            "flops_convention": FLOPS_CONVENTION,
            "latency": {
                "device": "cpu",
                "runs": self.latency_runs,
                "blocks": self.latency_blocks,
                "timing": "train and inference forms in alternating warmed blocks",
                "threads": self.threads,
                "batch": 1,
            },
            "input_shape": list(self.input_shape),
            "before": asdict(self.before) if self.before else None,
            "after": asdict(self.after) if self.after else None,
            "passes": [
                {
                    "name": p.name,
                    "applied": p.applied,
                    "changed": p.changed,
                    "details": list(p.details),
                    "max_rel_error": p.max_error if p.applied else None,
                    "seconds": round(p.seconds, 3),
                    "after": asdict(p.after) if p.after else None,
                }
                for p in self.passes
            ],
        }

    def format_table(self, details: bool = True) -> str:
        """A fixed-width table for the CLI (``edgekit convert``, ``edgekit inspect --plan``)."""
        header = ("pass", "changed", "params", "GFLOPs", "max rel err")
        rows = [("(train form)", "", *_figures(self.before), "")]
        notes: List[str] = []
        for p in self.passes:
            if not p.applied:
                rows.append((p.name, "skipped", "", "", ""))
                continue
            rows.append((p.name, str(p.changed), *_figures(p.after), f"{p.max_error:.1e}"))
            if details:
                notes.extend(f"  {p.name}: {d}" for d in p.details)
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
            for r in [header, *rows]
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(
            f"verified: raw outputs within {self.tolerance:g} of max|reference|, decoded ones by the "
            "FP32 bounds of edgekit.verify"
        )
        speed = self.latency_line()
        return "\n".join(lines + ([speed] if speed else []) + notes)

    def latency_line(self) -> Optional[str]:
        """The train vs inference form CPU latency, or None when not timed."""
        before, after = self.before, self.after
        if not before or not after or before.latency_ms is None or after.latency_ms is None:
            return None
        return (
            f"PyTorch CPU latency at batch 1 ({self.threads} threads, median of {self.latency_blocks} "
            f"alternating warmed blocks of {self.latency_runs}): train form {before.latency_ms:.1f} ms, "
            f"inference form {after.latency_ms:.1f} ms ({before.latency_ms / after.latency_ms:.2f}x)"
        )


def _figures(m: Optional[Measurement]) -> List[str]:
    if m is None:
        return ["", ""]
    gflops = "" if m.gflops is None else f"{m.gflops:.3f}"
    return [f"{m.params:,}", gflops]
