"""How far an INT8 model is from its FP32 source: per-output agreement and per-layer sensitivity."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Hashable, List, Mapping, Sequence, Tuple

import numpy as np

from edgekit._optional import require
from edgekit.verify import SNR_CAP_DB, cosine_similarity, snr_db

Infer = Callable[[np.ndarray], Mapping[str, np.ndarray]]


def output_agreement(
    reference: Infer, candidate: Infer, inputs: Sequence[np.ndarray], names: Sequence[str]
) -> Dict[str, Dict[str, float]]:
    """Per output: the worst cosine similarity and the mean SNR over ``inputs``."""
    cos: Dict[str, List[float]] = {n: [] for n in names}
    snr: Dict[str, List[float]] = {n: [] for n in names}
    for x in inputs:
        ref, got = reference(x), candidate(x)
        for name in names:
            cos[name].append(cosine_similarity(ref[name], got[name]))
            snr[name].append(snr_db(ref[name], got[name]))
    return {
        n: {"min_cosine": round(min(cos[n]), 6), "mean_snr_db": round(float(np.mean(snr[n])), 2)}
        for n in names
        if cos[n]
    }


def with_outputs(source: Any, tensors: Sequence[str]) -> bytes:
    """The ONNX model ``source`` (a path, or a loaded ModelProto, left unchanged) with ``tensors``
    added as graph outputs (serialized)."""
    onnx = require("onnx", "convert")
    if isinstance(source, onnx.ModelProto):
        model = onnx.ModelProto()
        model.CopyFrom(source)
    else:
        model = onnx.load(str(source))
    have = {o.name for o in model.graph.output}
    for name in tensors:
        if name not in have:
            model.graph.output.append(onnx.ValueInfoProto(name=name))
    return model.SerializeToString()


def _tensor_names(graph: object) -> set:
    """Every tensor a graph computes or takes: node outputs and graph inputs."""
    names = {o for n in graph.node for o in n.output}  # type: ignore[attr-defined]
    return names | {i.name for i in graph.input}  # type: ignore[attr-defined]


def layer_sensitivity(
    fp32_onnx: Path, qdq_onnx: Path, inputs: Sequence[np.ndarray], nodes: Sequence[str]
) -> List[Tuple[str, float]]:
    """Rank weighted ``nodes`` by the SNR each loses itself (input SNR - output SNR), worst first.

    Both models keep the float tensor names of the source graph (Q/DQ pairs are inserted between
    them), so the same tensor is read from each; the error a layer adds, not the error it inherits,
    decides which layers to keep float. Where the quantizer folded a Conv's activation into it,
    the layer's output is the activation's.
    """
    onnx = require("onnx", "convert")
    ort = require("onnxruntime", "onnx")
    graph = onnx.load(str(fp32_onnx), load_external_data=False).graph
    qdq = onnx.load(str(qdq_onnx), load_external_data=False).graph
    wanted = set(nodes)
    initializers = {i.name for i in graph.initializer}
    # onnxruntime's quantizer drops a Relu/Clip after a Conv: the Conv then writes the activation's
    # output tensor. Read that tensor in both models (it is the activation's output in FP32).
    qdq_output = {n.name: n.output[0] for n in qdq.node}
    picked = [
        (n.name, n.input[0], qdq_output.get(n.name, n.output[0])) for n in graph.node if n.name in wanted
    ]
    known = _tensor_names(graph) & _tensor_names(qdq)
    picked = [(name, i, o) for name, i, o in picked if o in known]
    tensors = sorted({t for _, i, o in picked for t in (i, o) if t not in initializers and t in known})
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every tensor
    sessions = [
        ort.InferenceSession(with_outputs(p, tensors), options, providers=["CPUExecutionProvider"])
        for p in (fp32_onnx, qdq_onnx)
    ]
    input_name = sessions[0].get_inputs()[0].name
    reference, candidate = (
        (lambda x, session=session: session.run(tensors, {input_name: x})) for session in sessions
    )
    return _ranked(picked, tensors, reference, candidate, inputs)


Tensor = Hashable  # a tensor's key: an ONNX tensor name, or (op name, output index) in OpenVINO


def _ranked(
    picked: Sequence[Tuple[str, Tensor, Tensor]],
    tensors: Sequence[Tensor],
    reference: Callable[[np.ndarray], Sequence[np.ndarray]],
    candidate: Callable[[np.ndarray], Sequence[np.ndarray]],
    inputs: Sequence[np.ndarray],
) -> List[Tuple[str, float]]:
    """(layer, input tensor, output tensor) ranked by mean input SNR - mean output SNR, worst first.

    ``reference`` / ``candidate`` run one input and return the values of ``tensors``, in order.
    """
    snrs: Dict[Tensor, List[float]] = {t: [] for t in tensors}
    for x in inputs:
        for t, a, b in zip(tensors, reference(x), candidate(x)):
            snrs[t].append(snr_db(a, b))
    mean = {t: float(np.mean(v)) for t, v in snrs.items()}
    losses = [(name, mean.get(i, SNR_CAP_DB) - mean[o]) for name, i, o in picked]
    return sorted(losses, key=lambda item: -item[1])


def openvino_layer_sensitivity(
    fp32_onnx: Path, int8_xml: Path, inputs: Sequence[np.ndarray], nodes: Sequence[str]
) -> List[Tuple[str, float]]:
    """``layer_sensitivity`` measured on NNCF's own INT8 IR in the OpenVINO CPU plugin (f32 math).

    NNCF places and calibrates its quantizers differently from onnxruntime's Q/DQ, so the layers
    that lose the most there are the ones to keep float. ONNX Conv ``n`` is OpenVINO's Add ``n``
    over Convolution ``n/WithoutBiases`` (or the Convolution ``n``); NNCF keeps the friendly names
    and inserts FakeQuantize ops, so each layer's input is read at its FP32 producer's output.
    """
    from edgekit.calibration.quantize_nncf import WITHOUT_BIASES

    ov = require("openvino", "openvino")
    core = ov.Core()
    fp32, int8 = core.read_model(str(fp32_onnx)), core.read_model(str(int8_xml))
    ops = [{op.get_friendly_name(): op for op in m.get_ops()} for m in (fp32, int8)]
    picked = []
    for name in nodes:
        conv = ops[0].get(name + WITHOUT_BIASES) or ops[0].get(name)
        if conv is None or name not in ops[1]:
            continue
        source = conv.input(0).get_source_output()
        picked.append((name, (source.get_node().get_friendly_name(), source.get_index()), (name, 0)))
    tensors = sorted({t for _, i, o in picked for t in (i, o) if all(t[0] in by_name for by_name in ops)})
    picked = [(n, i, o) for n, i, o in picked if o in tensors]

    def runner(model: Any, by_name: Dict[str, Any]) -> Callable[[np.ndarray], List[np.ndarray]]:
        first = len(model.outputs)
        model.add_outputs([by_name[op].output(index) for op, index in tensors])
        request = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"}).create_infer_request()

        def run(x: np.ndarray) -> List[np.ndarray]:
            request.infer([x])
            return [request.get_output_tensor(first + k).data.copy() for k in range(len(tensors))]

        return run

    reference, candidate = (runner(m, by_name) for m, by_name in zip((fp32, int8), ops))
    return _ranked(picked, tensors, reference, candidate, inputs)
