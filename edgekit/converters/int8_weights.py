"""The weights of a Q/DQ INT8 ONNX (onnxruntime, TensorRT) against the FP32 ONNX it was quantized
from, through ``edgekit.verify.weights``.

A weight ``DequantizeLinear`` reads an int8 initializer with its scale (and zero point) and feeds
a weighted node's weight input; the FP32 model has the node under the same name, whose same input
names the FP32 weight. Biases are not checked: bias correction changes them on purpose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from edgekit._optional import require
from edgekit.verify.weights import WeightCheck, check_weight

#: the weighted nodes and the input index of their weight
WEIGHT_INPUTS: Dict[str, Tuple[int, ...]] = {
    "Conv": (1,),
    "ConvTranspose": (1,),
    "Gemm": (1,),
    "MatMul": (0, 1),
}


def _axis(node: Any) -> int:
    return next((int(a.i) for a in node.attribute if a.name == "axis"), 1)


def weight_dequantizers(qdq: Any) -> List[Tuple[Any, Any, int]]:
    """``(DequantizeLinear, consumer node, input index)`` of every dequantized weight of ``qdq``."""
    inits = {i.name for i in qdq.graph.initializer}
    consumers: Dict[str, List[Tuple[Any, int]]] = {}
    for node in qdq.graph.node:
        for i, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, i))
    found = []
    for node in qdq.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits or node.input[1] not in inits:
            continue
        for consumer, index in consumers.get(node.output[0], []):
            if index in WEIGHT_INPUTS.get(consumer.op_type, ()):
                found.append((node, consumer, index))
    return found


def check_qdq_weights(qdq_path: Path, fp32: Any, max_steps: float) -> List[WeightCheck]:
    """Every dequantized weight of ``qdq_path`` against its FP32 weight in ``fp32`` (the FP32 ONNX
    it was quantized from, an ``onnx.ModelProto``)."""
    onnx = require("onnx", "onnx")
    from onnx import numpy_helper

    qdq = onnx.load(str(qdq_path))
    q_inits = {i.name: i for i in qdq.graph.initializer}
    f_inits = {i.name: i for i in fp32.graph.initializer}
    f_nodes = {n.name: n for n in fp32.graph.node if n.name}
    checks = []
    for dq, consumer, index in weight_dequantizers(qdq):
        source: Optional[Any] = f_nodes.get(consumer.name)
        if source is None or index >= len(source.input) or source.input[index] not in f_inits:
            continue  # a node the quantizer added or renamed: nothing to compare with
        arrays = [numpy_helper.to_array(q_inits[n]) if n in q_inits else None for n in dq.input[:3]]
        q, scale = arrays[0], arrays[1]
        zero_point = arrays[2] if len(arrays) > 2 else None
        reference = numpy_helper.to_array(f_inits[source.input[index]])
        checks.append(
            check_weight(source.input[index], q, scale, zero_point, _axis(dq), reference, max_steps)
        )
    return checks
