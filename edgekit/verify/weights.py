"""INT8 weights against the FP32 weights they quantize: ``|dequantize(q) - w|`` in quantization steps.

Output-space bounds cannot see every quantizer defect: a weight scale 10x too large on a layer that
feeds DFL logits sharpens a softmax whose expectation barely moves, so the boxes stay within the
INT8 bounds (``docs/measurements/int8-box-snr.md``). The weights themselves show it exactly. Each
quantized weight, dequantized with its own scale and zero point (per tensor or per channel along
``axis``), must lie within ``Bounds.weight_steps`` quantization steps of the FP32 weight: rounding to
the nearest level gives at most 0.5 step, the margin to 1 step absorbs a quantizer that rounds or
clips its range differently, and a wrong scale, zero point, axis or a weight of another layer moves
weights by tens to thousands of steps.

Numpy only; ``edgekit.converters.int8_weights`` reads the Q/DQ graph and calls ``check_weight``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np


@dataclass(frozen=True)
class WeightCheck:
    """One quantized weight against its FP32 source."""

    name: str  # the FP32 weight's name
    steps: float  # max |dequantized - fp32| in quantization steps of that element's scale
    ok: bool
    problem: str = ""

    def to_dict(self) -> Dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _along(values: Any, ndim: int, axis: int) -> np.ndarray:
    """A scale or zero point (float64) shaped to broadcast over an ``ndim`` tensor: a scalar per
    tensor, else one value per channel on ``axis``."""
    v = np.asarray(values, np.float64)
    if v.size == 1:
        return v.reshape(())
    shape = [1] * ndim
    shape[axis % ndim] = -1
    return v.reshape(shape)


def dequantize(
    q: np.ndarray, scale: np.ndarray, zero_point: Optional[np.ndarray], axis: int = 1
) -> np.ndarray:
    """``(q - zero_point) * scale`` in float64, per tensor (scalar scale) or per channel on ``axis``."""
    q = np.asarray(q, np.float64)
    zp = 0.0 if zero_point is None else _along(zero_point, q.ndim, axis)
    return (q - zp) * _along(scale, q.ndim, axis)


def check_weight(
    name: str,
    q: np.ndarray,
    scale: np.ndarray,
    zero_point: Optional[np.ndarray],
    axis: int,
    reference: np.ndarray,
    max_steps: float,
) -> WeightCheck:
    """``q`` dequantized against ``reference`` (the FP32 weight), in steps of its scale."""
    reference = np.asarray(reference, np.float64)
    if np.shape(q) != reference.shape:
        return WeightCheck(
            name, float("inf"), False, f"shape {list(np.shape(q))} != FP32 {list(reference.shape)}"
        )
    got = dequantize(q, scale, zero_point, axis)
    step = np.maximum(np.abs(_along(scale, got.ndim, axis)), 1e-30)
    steps = float(np.max(np.abs(got - reference) / step)) if got.size else 0.0
    ok = bool(np.isfinite(steps) and steps <= max_steps)
    problem = (
        "" if ok else f"{name} is {steps:.3g} quantization steps from its FP32 weight (bound {max_steps:g})"
    )
    return WeightCheck(name, steps, ok, problem)


def summarize_weights(checks: Sequence[WeightCheck], max_steps: float) -> Dict[str, Any]:
    """What the INT8 report records: how many weights were checked, the worst, the failures."""
    bad: List[WeightCheck] = [c for c in checks if not c.ok]
    worst = max(checks, key=lambda c: c.steps, default=None)
    return {
        "checked": len(checks),
        "bound_steps": max_steps,
        "max_steps": None if worst is None else round(worst.steps, 4),
        "worst": None if worst is None else worst.name,
        "problems": [c.problem for c in bad],
    }
