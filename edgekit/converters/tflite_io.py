"""Integer input/output for a quantized .tflite (``--int8-io``).

ai-edge-quantizer keeps a float interface: a QUANTIZE op follows the float input and a DEQUANTIZE
op precedes each quantized output. This removes those ops, so the model takes int8 pixels (a
camera frame minus 128 at scale 1/255: no float image on the device) and returns the raw integer
tensors. The scale and zero point of each integer tensor go into the manifest; the runtime's
preprocessing and decoder apply them. Outputs produced by the float decode tail have no
DEQUANTIZE and stay float: quantizing box coordinates to 256 levels would cost accuracy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from edgekit._optional import require
from edgekit.bundle.manifest import Quantization, TensorIO
from edgekit.errors import ConversionError

_DTYPES = {"INT8": "int8", "UINT8": "uint8"}


def _tensor_io(name: str, tensor: Any, schema: Any) -> TensorIO:
    """The manifest entry of an integer graph tensor (per-tensor scale and zero point)."""
    kinds = {getattr(schema.TensorType, k): v for k, v in _DTYPES.items()}
    q = tensor.quantization
    if tensor.type not in kinds or q is None or q.scale is None or len(q.scale) != 1:
        raise ConversionError(f"tflite tensor {tensor.name!r} is not per-tensor int8/uint8")
    return TensorIO(name, kinds[tensor.type], Quantization(float(q.scale[0]), int(q.zeroPoint[0])))


def _signature_order(graph_outputs: Sequence[int], signature: Any) -> List[int]:
    """Graph output tensor indices in signature order (output_0, output_1, ...), as the runtime reads."""
    if signature is None or not signature.outputs:
        return list(graph_outputs)
    maps = sorted(signature.outputs, key=lambda m: (len(m.name), m.name))
    return [m.tensorIndex for m in maps]


def make_integer_io(path: Path, input_name: str, output_names: Sequence[str]) -> Tuple[TensorIO, ...]:
    """Rewrite the quantized .tflite at ``path`` in place with an int8 input (and int8 outputs
    where they were dequantized); returns the manifest's I/O entries (manifest names).

    Refuses a model whose input is not followed by QUANTIZE (not an INT8 model) or whose float
    input also feeds float ops.
    """
    fb = require("ai_edge_litert.tools.flatbuffer_utils", "tflite-convert")
    schema = require("ai_edge_litert.schema_py_generated", "tflite-convert")
    model = fb.read_model(str(path))
    graph = model.subgraphs[0]

    def code(op: Any) -> int:
        return int(fb.get_builtin_code_from_operator_code(model.operatorCodes[op.opcodeIndex]))

    readers: Dict[int, int] = {}
    for op in graph.operators:
        for t in op.inputs:
            readers[t] = readers.get(t, 0) + 1
    remap: Dict[int, int] = {}
    dropped = set()
    for i, op in enumerate(graph.operators):
        if code(op) == schema.BuiltinOperator.QUANTIZE and op.inputs[0] in graph.inputs:
            if readers[op.inputs[0]] != 1:
                raise ConversionError(f"{path}: the float input also feeds float ops; int8 input impossible")
            remap[op.inputs[0]] = op.outputs[0]
            dropped.add(i)
        elif code(op) == schema.BuiltinOperator.DEQUANTIZE and op.outputs[0] in graph.outputs:
            remap[op.outputs[0]] = op.inputs[0]
            dropped.add(i)
    if not any(t in remap for t in graph.inputs):
        raise ConversionError(f"{path}: no QUANTIZE after the input: --int8-io needs an INT8 model")
    signature = model.signatureDefs[0] if model.signatureDefs else None
    graph.inputs = [remap.get(t, t) for t in graph.inputs]
    graph.outputs = [remap.get(t, t) for t in graph.outputs]
    graph.operators = [op for i, op in enumerate(graph.operators) if i not in dropped]
    if signature is not None:
        for entry in [*signature.inputs, *signature.outputs]:
            entry.tensorIndex = remap.get(entry.tensorIndex, entry.tensorIndex)
    io = [_tensor_io(input_name, graph.tensors[graph.inputs[0]], schema)]
    for name, index in zip(output_names, _signature_order(graph.outputs, signature)):
        if graph.tensors[index].type != schema.TensorType.FLOAT32:
            io.append(_tensor_io(name, graph.tensors[index], schema))
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(bytes(fb.convert_object_to_bytearray(model)))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return tuple(io)
