"""Faults injected into INT8 models, shared by tests/verify/test_faults.py and
benchmarks/int8_layer_snr.py (which measures what the same fault does per layer)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np


def scale_one_weight(path: Path, dest: Optional[Path] = None) -> str:
    """Multiply the scale of one convolution weight's DequantizeLinear (mid-network) by 10; the
    model is written to ``dest`` (default: in place). Returns the faulted tensor's name."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {i.name: i for i in model.graph.initializer}
    weights = [
        n
        for n in model.graph.node
        if n.op_type == "DequantizeLinear" and n.input[0] in inits and n.input[1] in inits
    ]
    node = weights[len(weights) // 3]
    scale = inits[node.input[1]]
    scale.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(scale) * np.float32(10), scale.name))
    onnx.save(model, str(dest or path))
    return node.output[0]
