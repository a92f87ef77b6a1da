"""A tiny but real ONNX detector built in the test: class scores follow the input's channel means.

Anchor n has a fixed box; its class-c score is sigmoid(gain * mean(channel c) - bias_n), so
the colour order and the scale of preprocessing change the result, as they would for a network.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np

from edgekit.bundle import BundleWriter
from edgekit.bundle.manifest import DecoderSpec, OutputSpec, Preprocess

from ..conftest import need
from ..decoding.factory import manifest

BOXES = np.array([[8, 8, 40, 40], [10, 8, 42, 40], [60, 20, 120, 50], [0, 0, 16, 16]], np.float32)
BIAS = np.array([2.0, 2.5, 3.0, 10.0], np.float32)


def write_tiny_onnx(path: Path, height: int, width: int, dynamic: bool = False) -> None:
    need("onnx")
    from onnx import TensorProto, helper, numpy_helper, save

    n = len(BOXES)
    batch = "batch" if dynamic else 1
    nodes = [
        helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
        helper.make_node("Reshape", ["pooled", "shape3"], ["means"]),  # (B, 3, 1)
        helper.make_node("Mul", ["means", "gain"], ["scaled"]),
        helper.make_node("Sub", ["scaled", "bias"], ["logits"]),  # (B, 3, N)
        helper.make_node("Sigmoid", ["logits"], ["scores"]),
        helper.make_node("Mul", ["means", "zero"], ["zeros"]),  # (B, 3, 1) of zeros, carries the batch
        helper.make_node("ReduceMax", ["zeros"], ["zero1"], keepdims=1, axes=[1]),  # (B, 1, 1)
        helper.make_node("Add", ["zero1", "box_table"], ["boxes"]),  # (B, 4, N)
    ]
    inits = [
        numpy_helper.from_array(np.array([0, 3, 1], np.int64), "shape3"),
        numpy_helper.from_array(np.full((1, 3, n), 8.0, np.float32), "gain"),
        numpy_helper.from_array(BIAS.reshape(1, 1, n), "bias"),
        numpy_helper.from_array(np.zeros((1, 1, 1), np.float32), "zero"),
        numpy_helper.from_array(BOXES.T.reshape(1, 4, n).copy(), "box_table"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, height, width])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [batch, 4, n]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [batch, 3, n]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by old onnxruntime releases (Python 3.8 devices)
    save(model, str(path))


def quantize_tiny(path: Path, height: int, width: int) -> None:
    """Replace the tiny ONNX at ``path`` by onnxruntime's static Q/DQ quantization of it."""
    need("onnxruntime")
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Images(CalibrationDataReader):
        def __init__(self) -> None:
            rng = np.random.default_rng(0)
            self.batches = iter([{"images": rng.random((1, 3, height, width), np.float32)} for _ in range(8)])

        def get_next(self) -> Optional[dict]:
            return next(self.batches, None)

    fp32 = path.with_name("fp32.onnx")
    path.rename(fp32)
    quantize_static(str(fp32), str(path), Images(), quant_format=QuantFormat.QDQ)
    fp32.unlink()


def write_tiny_bundle(
    dest: Path,
    height: int = 64,
    width: int = 128,
    preprocess: Preprocess = Preprocess(),
    dynamic: bool = False,
    drop_model: Optional[bool] = False,
    int8: bool = False,
) -> Path:
    """The tiny model as a bundle; ``int8``: quantized to Q/DQ by onnxruntime (a real INT8 model)."""
    n = len(BOXES)
    batch = None if dynamic else 1
    with BundleWriter(dest) as w:
        write_tiny_onnx(w.dir / "model.onnx", height, width, dynamic)
        if int8:
            quantize_tiny(w.dir / "model.onnx", height, width)
        art = w.artifact("model.onnx", "onnxruntime", "int8" if int8 else "fp32")
        m = manifest(
            [
                OutputSpec("boxes", "boxes", (batch, 4, n), layout="BCN"),
                OutputSpec("scores", "scores", (batch, 3, n), layout="BCN"),
            ],
            DecoderSpec("nms", conf_threshold=0.25, iou_threshold=0.5),
            names=("red", "green", "blue"),
            height=height,
            width=width,
            preprocess=preprocess,
            batch=batch,
            sha256=art.sha256,
            size=art.size,
        )
        w.commit(replace(m, artifacts=(art,)))  # the writer's own record of the file
    if drop_model:
        (dest / "model.onnx").unlink()
    return dest
