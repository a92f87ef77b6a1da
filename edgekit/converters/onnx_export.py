"""PyTorch -> ONNX: export, simplify with a numerical check, metadata, optional in-graph NMS."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edgekit._optional import require
from edgekit.errors import ConversionError
from edgekit.verify import max_rel_error

INPUT_NAME = "images"


def export_onnx(
    module: Any,
    path: Path,
    sample: Any,
    output_names: Sequence[str],
    opset: int,
    dynamic: bool = False,
) -> None:
    """Export ``module`` (eval mode, FP32) with the TorchScript exporter; batch axis dynamic on request."""
    torch = require("torch")
    dynamic_axes = None
    if dynamic:
        dynamic_axes = {INPUT_NAME: {0: "batch"}, **{name: {0: "batch"} for name in output_names}}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about constant shapes are expected
        torch.onnx.export(
            module,
            (sample,),
            buffer,
            input_names=[INPUT_NAME],
            output_names=list(output_names),
            opset_version=opset,
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
            dynamo=False,
        )
    Path(path).write_bytes(buffer.getvalue())


def run_onnx(path_or_bytes: Any, x: np.ndarray, threads: int = 1) -> List[np.ndarray]:
    """Run an ONNX model on CPU with onnxruntime (all outputs, in graph order)."""
    ort = require("onnxruntime", "onnx")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    source = str(path_or_bytes) if isinstance(path_or_bytes, Path) else path_or_bytes
    session = ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


def simplify_onnx(path: Path, sample: np.ndarray, tol: float = 1e-5) -> Dict[str, Any]:
    """Simplify in place with onnxslim, keeping the result only if every output is unchanged.

    Returns a report: node counts before/after, the largest relative change, and whether the
    simplified graph was kept.
    """
    onnx = require("onnx")
    onnxslim = require("onnxslim")
    model = onnx.load(str(path))
    before = run_onnx(path, sample)
    n_before = len(model.graph.node)
    try:
        slim = onnxslim.slim(model)
    except Exception as exc:  # noqa: BLE001 - a simplifier failure keeps the plain export
        return {"tool": "onnxslim", "kept": False, "reason": f"{type(exc).__name__}: {exc}"[:200]}
    data = slim.SerializeToString()
    after = run_onnx(data, sample)
    err = max((max_rel_error(a, b) for a, b in zip(after, before)), default=0.0)
    kept = len(after) == len(before) and err <= tol
    if kept:
        Path(path).write_bytes(data)
    return {
        "tool": "onnxslim",
        "version": str(getattr(onnxslim, "__version__", "?")),
        "nodes_before": n_before,
        "nodes_after": len(slim.graph.node),
        "max_rel_change": err,
        "kept": kept,
    }


def set_metadata(path: Path, metadata: Dict[str, Any]) -> None:
    """Write ``metadata`` into ONNX ``metadata_props`` (values JSON-encoded unless strings)."""
    onnx = require("onnx")
    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in metadata.items():
        prop = model.metadata_props.add()
        prop.key = key
        prop.value = value if isinstance(value, str) else json.dumps(value)
    onnx.save(model, str(path))


def append_nms(
    path: Path,
    boxes: str,
    scores: str,
    max_det: int,
    iou: float,
    conf: float,
    layout: str = "BNC",
) -> str:
    """Append ONNX ``NonMaxSuppression`` over the xyxy boxes and scores outputs (``layout`` of both).

    Returns the name of the new ``selected_indices`` output ((M, 3) rows batch, class, box);
    boxes and scores stay outputs so the host gathers the kept rows.
    """
    onnx = require("onnx")
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    g = model.graph
    nms_boxes, nms_scores = boxes, scores  # NonMaxSuppression wants boxes (B, N, 4), scores (B, C, N)
    if layout == "BNC":
        nms_scores = f"{scores}_bcn"
        g.node.append(helper.make_node("Transpose", [scores], [nms_scores], perm=[0, 2, 1]))
    else:
        nms_boxes = f"{boxes}_bnc"
        g.node.append(helper.make_node("Transpose", [boxes], [nms_boxes], perm=[0, 2, 1]))
    # best class per anchor only (as the host decoder): other classes' scores are zeroed
    best = f"{nms_scores}_best"
    g.node.append(helper.make_node("ReduceMax", [nms_scores], [f"{best}_max"], axes=[1], keepdims=1))
    g.node.append(helper.make_node("Equal", [nms_scores, f"{best}_max"], [f"{best}_mask"]))
    g.node.append(helper.make_node("Cast", [f"{best}_mask"], [f"{best}_maskf"], to=TensorProto.FLOAT))
    g.node.append(helper.make_node("Mul", [nms_scores, f"{best}_maskf"], [best]))
    nms_scores = best
    consts = {
        "nms_max_per_class": np.array([max_det], np.int64),
        "nms_iou": np.array([iou], np.float32),
        "nms_conf": np.array([conf], np.float32),
    }
    g.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items())
    out = "nms_indices"
    g.node.append(
        helper.make_node(
            "NonMaxSuppression",
            [nms_boxes, nms_scores, *consts],
            [out],
            center_point_box=0,
        )
    )
    g.output.append(helper.make_tensor_value_info(out, TensorProto.INT64, [None, 3]))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return out


def output_shapes(path: Path) -> List[Tuple[str, Tuple[Optional[int], ...]]]:
    """(name, shape) of every graph output; symbolic dimensions become None."""
    onnx = require("onnx")
    model = onnx.load(str(path), load_external_data=False)
    rows = []
    for out in model.graph.output:
        dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in out.type.tensor_type.shape.dim)
        rows.append((out.name, dims))
    return rows


def check_export(path: Path) -> None:
    """The exported file must be a valid ONNX model; raise a ConversionError naming the file otherwise."""
    onnx = require("onnx")
    try:
        onnx.checker.check_model(str(path))
    except Exception as exc:  # noqa: BLE001 - onnx.checker raises ValidationError subclasses
        raise ConversionError(
            f"{path}: the exported ONNX model is invalid ({str(exc).splitlines()[0]})"
        ) from None
