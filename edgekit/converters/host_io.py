"""The onnxruntime model's host interface: uint8 pixels in, each anchor's best class out.

Two edits of the FP32 ONNX that the onnxruntime artifact runs, each exact, each moving work
from the Python side of a frame into onnxruntime's compiled, threaded kernels:

- **uint8 input.** The graph takes the letterboxed pixels as uint8 and scales them itself
  (``DequantizeLinear`` with the manifest's pixel scale and zero point 0: ``x * scale`` in
  float32, bit for bit what the host computed before). The host writes 1 byte per value
  instead of 4 (a 640x640 input: 1.2 MB instead of 4.9 MB).
- **best score and class per anchor** (``best_scores``, ``best_classes``), beside the full
  ``scores``: the decoder thresholds 8,400 values instead of reading 8,400 x 80 after every
  frame. The full scores stay: class filtering (``classes=``) reads them.

The manifest records both on the artifact (``io``, ``extra_outputs``); the other artifacts of
the bundle keep the float interface. ``benchmarks/runtime_overhead.py`` times both forms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from edgekit._optional import require
from edgekit.bundle.manifest import Manifest, OutputSpec, Quantization, TensorIO

BEST_SCORES, BEST_CLASSES = "best_scores", "best_classes"


def applies(manifest: Manifest) -> bool:
    """Host I/O fits a float NCHW input and, for the extra outputs, class probabilities (B, nc, N)."""
    return manifest.input.dtype == "float32" and manifest.input.layout == "NCHW"


def _scores(manifest: Manifest) -> Optional[OutputSpec]:
    roles = {o.role: o for o in manifest.outputs}
    spec = roles.get("scores")
    if manifest.decoder.type not in ("nms", "host-dfl") or spec is None or spec.layout != "BCN":
        return None
    return spec


def write_host_io(path: Path, manifest: Manifest) -> Tuple[Tuple[TensorIO, ...], Tuple[OutputSpec, ...]]:
    """Rewrite the ONNX at ``path`` in place; returns the artifact's ``io`` and ``extra_outputs``."""
    onnx = require("onnx")
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    name = manifest.input.name
    inner = f"{name}_scaled"
    scale = np.float32(manifest.preprocess.scale)
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(scale, np.float32), f"{name}_pixel_scale"),
            numpy_helper.from_array(np.array(0, np.uint8), f"{name}_pixel_zero"),
        ]
    )
    for node in graph.node:  # every reader of the input now reads the scaled pixels
        node.input[:] = [inner if i == name else i for i in node.input]
    scale_node = helper.make_node(
        "DequantizeLinear", [name, f"{name}_pixel_scale", f"{name}_pixel_zero"], [inner], name="edgekit_px"
    )
    graph.node.insert(0, scale_node)
    next(i for i in graph.input if i.name == name).type.tensor_type.elem_type = TensorProto.UINT8
    io = (TensorIO(name, "uint8", Quantization(float(scale), 0)),)
    extra: Tuple[OutputSpec, ...] = ()
    scores = _scores(manifest)
    if scores is not None:
        shape = (scores.shape[0], scores.shape[2])  # (B, N): the class axis reduced
        opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=13)
        if opset >= 18:  # ReduceMax takes its axes as an input from opset 18
            graph.initializer.append(numpy_helper.from_array(np.array([1], np.int64), "edgekit_class_axis"))
            reduce_max = helper.make_node(
                "ReduceMax", [scores.name, "edgekit_class_axis"], [BEST_SCORES], keepdims=0
            )
        else:
            reduce_max = helper.make_node("ReduceMax", [scores.name], [BEST_SCORES], axes=[1], keepdims=0)
        reduce_max.name = "edgekit_best_scores"
        graph.node.extend(
            [
                reduce_max,
                helper.make_node(
                    "ArgMax", [scores.name], [BEST_CLASSES], axis=1, keepdims=0, name="edgekit_best_classes"
                ),
            ]
        )
        dims = ["batch" if d is None else d for d in shape]
        for out, elem in ((BEST_SCORES, TensorProto.FLOAT), (BEST_CLASSES, TensorProto.INT64)):
            graph.output.append(helper.make_tensor_value_info(out, elem, dims))
        extra = (
            OutputSpec(BEST_SCORES, BEST_SCORES, shape, "float32", None, "BNC"),
            OutputSpec(BEST_CLASSES, BEST_CLASSES, shape, "int64", None, "BNC"),
        )
    onnx.checker.check_model(model)
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(path)
    return io, extra
