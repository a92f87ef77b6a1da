"""SiLU-aware ranges for the pre-activations of onnxruntime Q/DQ models.

onnxruntime's CPU kernels quantize every convolution's output before its activation
(QLinearConv -> QLinearSigmoid + QLinearMul), so each SiLU input gets an 8-bit range of its own.
The calibrated range spans the negative tail (onnxruntime's percentile ranges are symmetric, about
-15..15 on the trained fixtures), yet SiLU maps everything below -c to within |SiLU(-c)| of zero.
Clipping the range at the -c whose |SiLU(-c)| is half a step of the SiLU output's own quantization
changes no output by more than that step's rounding, and gives the part SiLU passes on a finer step.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

SILU_ARGMIN = 1.27846  # x * sigmoid(x) is smallest at x = -1.27846 (value -0.27846)


def silu(x: float) -> float:
    return x / (1.0 + math.exp(-x))


def clip_point(step_out: float) -> float:
    """The smallest c >= ``SILU_ARGMIN`` with |SiLU(-c)| <= ``step_out`` / 2 (SiLU rises to 0 below
    its minimum, so clipping the input at -c moves no output by more than half a step)."""
    low, high = SILU_ARGMIN, 64.0
    if abs(silu(-low)) <= step_out / 2:
        return low
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if abs(silu(-mid)) > step_out / 2 else (low, mid)
    return high


class _Graph:
    """Producer, consumer and initializer lookups of a Q/DQ model."""

    def __init__(self, model: Any) -> None:
        self.graph = model.graph
        self.producer = {o: n for n in self.graph.node for o in n.output}
        self.consumers: Dict[str, List[Any]] = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.inits = {i.name: i for i in self.graph.initializer}

    def dequantized_by(self, q: Any) -> List[Any]:
        users = self.consumers.get(q.output[0], [])
        return users if users and all(u.op_type == "DequantizeLinear" for u in users) else []

    def quantizer_of(self, tensor: str) -> Optional[Any]:
        """The QuantizeLinear that is ``tensor``'s only consumer, if any."""
        users = self.consumers.get(tensor, [])
        return users[0] if len(users) == 1 and users[0].op_type == "QuantizeLinear" else None

    def scalar_params(self, node: Any) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """The (scale, zero point) arrays of a per-tensor Q/DQ ``node`` (None: per-channel or not
        constant); only these two initializers are read, not the model's weights."""
        from onnx import numpy_helper

        if len(node.input) < 3 or node.input[1] not in self.inits or node.input[2] not in self.inits:
            return None
        scale, zero = (numpy_helper.to_array(self.inits[n]) for n in node.input[1:3])
        return (scale, zero) if scale.size == 1 and zero.size == 1 else None

    def replace(self, name: str, value: np.ndarray) -> None:
        from onnx import numpy_helper

        self.inits[name].CopyFrom(numpy_helper.from_array(value, name))


def _silu_after(g: _Graph, dqs: List[Any]) -> Optional[Any]:
    """The Mul of x * Sigmoid(x) when the dequantized ``dqs`` feed exactly one SiLU (else None)."""
    outs = {d.output[0] for d in dqs}
    users = [u for o in outs for u in g.consumers.get(o, [])]
    sig = [u for u in users if u.op_type == "Sigmoid"]
    mul = [u for u in users if u.op_type == "Mul"]
    if len(sig) != 1 or len(mul) != 1 or len(users) != 2:
        return None
    # the Mul's other input is the Sigmoid's output, directly or through its own Q/DQ pair
    other = [i for i in mul[0].input if i not in outs]
    if len(other) != 1:
        return None
    path = g.producer.get(other[0])
    if path is not None and path.op_type == "DequantizeLinear":
        q = g.producer.get(path.input[0])
        path = g.producer.get(q.input[0]) if q is not None and q.op_type == "QuantizeLinear" else None
    return mul[0] if path is sig[0] else None


def tighten_silu_inputs(model: Any) -> Dict[str, Any]:
    """Clip the quantized range of every SiLU input at -c (``clip_point`` of the SiLU output's
    step), in place; returns what changed. Ranges already above -c, SiLUs whose output is not
    quantized, and Q/DQ parameters shared with other tensors are left alone."""
    g = _Graph(model)
    ratios = []
    for q in [n for n in g.graph.node if n.op_type == "QuantizeLinear"]:
        dqs = g.dequantized_by(q)
        mul = _silu_after(g, dqs) if dqs else None
        out_q = g.quantizer_of(mul.output[0]) if mul is not None else None
        params, out_params = g.scalar_params(q), g.scalar_params(out_q) if out_q is not None else None
        if params is None or out_params is None:
            continue
        if any(d.input[1:3] != q.input[1:3] for d in dqs) or len(g.consumers[q.input[1]]) != 1 + len(dqs):
            continue  # parameters shared beyond this tensor's own Q/DQ pair
        scale_arr, zero_arr = params
        scale, zero, info = float(scale_arr.reshape(())), int(zero_arr.reshape(())), np.iinfo(zero_arr.dtype)
        rmin, rmax = (info.min - zero) * scale, (info.max - zero) * scale
        floor = -clip_point(float(out_params[0].reshape(())))
        if rmin >= floor or rmax <= 0:
            continue
        new_scale = (rmax - floor) / (info.max - info.min)
        new_zero = int(np.clip(round(info.min - floor / new_scale), info.min, info.max))
        g.replace(q.input[1], np.full(scale_arr.shape, new_scale, scale_arr.dtype))
        g.replace(q.input[2], np.full(zero_arr.shape, new_zero, zero_arr.dtype))
        ratios.append(scale / new_scale)
    return {
        "tensors": len(ratios),
        "median_step_gain": round(float(np.median(ratios)), 3) if ratios else None,
    }
