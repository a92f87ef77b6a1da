"""Bias correction for onnxruntime Q/DQ models: undo the mean shift that quantization gives each conv.

Quantizing a layer's weights and input moves the mean of its output channels (Nagel et al.,
"Data-Free Quantization", 2019, sec. 4.2; NNCF's FastBiasCorrection does the same for OpenVINO).
For every quantized Conv, its FP32 input is read from the FP32 model on a few calibration images;
the layer alone is run twice on that input, in FP32 and as the Q/DQ model has it (input quantized
and dequantized with the model's scale, weights dequantized), and the per-channel difference of
the output means is added to the bias (its int32 values where the bias is quantized). Each layer
is corrected for its own error on FP32 inputs, so corrections do not compound.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from edgekit._optional import require
from edgekit.calibration.accuracy import with_outputs


def _layer_model(onnx: Any, nodes: List[Any], inits: List[Any], x: str, y: str, source: Any) -> bytes:
    """A one-layer model of ``nodes`` (``x`` in, ``y`` out) with the opsets and IR version of ``source``."""
    graph = onnx.helper.make_graph(
        nodes,
        "layer",
        [onnx.helper.make_tensor_value_info(x, onnx.TensorProto.FLOAT, None)],
        [onnx.helper.make_tensor_value_info(y, onnx.TensorProto.FLOAT, None)],
        inits,
    )
    model = onnx.helper.make_model(graph, opset_imports=source.opset_import)
    model.ir_version = source.ir_version
    return model.SerializeToString()


def _quantized_convs(qdq: Any) -> List[Tuple[Any, Any, Any, Any]]:
    """(conv, input DequantizeLinear, weight DequantizeLinear, bias DequantizeLinear or None) for each
    Conv whose input and weights are quantized (a float Conv may still read a dequantized tensor)."""
    producer = {o: n for n in qdq.graph.node for o in n.output}

    def dequantized(tensor: str) -> Any:
        node = producer.get(tensor)
        return node if node is not None and node.op_type == "DequantizeLinear" else None

    found = []
    for node in qdq.graph.node:
        if node.op_type != "Conv" or len(node.input) < 3:
            continue
        dq, weight = dequantized(node.input[0]), dequantized(node.input[1])
        if dq is None or weight is None or producer.get(dq.input[0]) is None:
            continue
        found.append((node, dq, weight, dequantized(node.input[2])))
    return found


def _layer_pairs(
    onnx: Any,
    ort: Any,
    fp32: Any,
    qdq: Any,
    layers: Sequence[Tuple[Any, ...]],
    fp_nodes: Dict[str, Any],
    q_inits: Dict[str, Any],
) -> List[Any]:
    """Per layer: (conv, bias DequantizeLinear or None, FP32 input tensor, (FP32 session, Q/DQ session)).

    The FP32 layer model reads its input under the tensor's own name; the Q/DQ one under ``x``.
    """
    fp_inits = {i.name: i for i in fp32.graph.initializer}
    cpu = ["CPUExecutionProvider"]
    pairs = []
    for conv, dq, weight_dq, bias in layers:
        ref = fp_nodes[conv.name]
        inits = [fp_inits[t] for t in ref.input[1:] if t in fp_inits]
        ref_model = _layer_model(onnx, [ref], inits, ref.input[0], ref.output[0], fp32)
        q = onnx.helper.make_node("QuantizeLinear", ["x", *dq.input[1:]], ["xq"])
        d = onnx.helper.make_node("DequantizeLinear", ["xq", *dq.input[1:]], ["xdq"])
        extra = [weight_dq] + ([bias] if bias is not None else [])
        c = onnx.helper.make_node("Conv", ["xdq", *conv.input[1:]], ["y"], name=conv.name)
        c.attribute.extend(conv.attribute)
        names = {t for n in [q, d, *extra] for t in n.input} | set(conv.input[1:])
        q_model = _layer_model(
            onnx, [q, d, *extra, c], [q_inits[t] for t in sorted(names) if t in q_inits], "x", "y", qdq
        )
        sessions = [ort.InferenceSession(m, providers=cpu) for m in (ref_model, q_model)]
        pairs.append((conv, bias, ref.input[0], sessions))
    return pairs


def _shift_bias(q_inits: Dict[str, Any], conv: Any, bias: Any, delta: np.ndarray) -> None:
    """Add ``delta`` (per output channel) to the bias of ``conv`` in the Q/DQ model."""
    from onnx import numpy_helper

    if bias is not None:  # int32 bias: value = (q - zero_point) * scale
        q_init, scale = q_inits[bias.input[0]], numpy_helper.to_array(q_inits[bias.input[1]])
        values = numpy_helper.to_array(q_init).astype(np.int64) + np.round(delta / scale).astype(np.int64)
        q_init.CopyFrom(numpy_helper.from_array(values.astype(np.int32), q_init.name))
    elif conv.input[2] in q_inits:  # a float bias initializer
        b_init = q_inits[conv.input[2]]
        values = numpy_helper.to_array(b_init).astype(np.float64) + delta
        b_init.CopyFrom(numpy_helper.from_array(values.astype(np.float32), b_init.name))


def correct_biases(fp32_path: Path, qdq_path: Path, inputs: Sequence[np.ndarray]) -> Dict[str, Any]:
    """Shift the biases of the Q/DQ model at ``qdq_path`` in place; returns what was corrected.

    ``inputs`` are preprocessed calibration images (the model's input tensor, batch 1).
    """
    onnx = require("onnx", "convert")
    ort = require("onnxruntime", "onnx")
    fp32, qdq = onnx.load(str(fp32_path)), onnx.load(str(qdq_path))
    fp_nodes = {n.name: n for n in fp32.graph.node}
    layers = [
        layer
        for layer in _quantized_convs(qdq)
        if layer[0].name in fp_nodes and len(fp_nodes[layer[0].name].input) >= 3
    ]
    if not layers:
        return {"layers": 0, "images": 0}
    # one FP32 run per image yields every corrected layer's input
    feeds = sorted({fp_nodes[conv.name].input[0] for conv, *_ in layers})
    graph_inputs = {i.name for i in fp32.graph.input}
    probe = with_outputs(fp32, [t for t in feeds if t not in graph_inputs])  # already loaded
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every tensor
    full = ort.InferenceSession(probe, options, providers=["CPUExecutionProvider"])
    input_name = full.get_inputs()[0].name
    q_inits = {i.name: i for i in qdq.graph.initializer}
    pairs = _layer_pairs(onnx, ort, fp32, qdq, layers, fp_nodes, q_inits)
    shift: Dict[str, np.ndarray] = {}
    for x in inputs:
        values = dict(zip([o.name for o in full.get_outputs()], full.run(None, {input_name: x})))
        values[input_name] = x
        for conv, _, feed, (ref_s, q_s) in pairs:
            a = ref_s.run(None, {feed: values[feed]})[0]
            b = q_s.run(None, {"x": values[feed]})[0]
            axes = tuple(i for i in range(a.ndim) if i != 1)  # all but the channel axis
            shift[conv.name] = shift.get(conv.name, 0.0) + (a - b).mean(axis=axes) / len(inputs)
    for conv, bias, _, _ in pairs:
        _shift_bias(q_inits, conv, bias, shift[conv.name].astype(np.float64))
    onnx.save(qdq, str(qdq_path))
    mean_abs = float(np.mean([np.abs(shift[c.name]).mean() for c, _, _, _ in pairs]))
    return {"layers": len(pairs), "images": len(inputs), "mean_abs_shift": round(mean_abs, 6)}
