"""Small ONNX models built in memory for tests and benchmarks of runtimes and timing."""

from __future__ import annotations

import numpy as np


def conv_stack_onnx(layers: int = 3, channels: int = 64, size: int = 64, seed: int = 0) -> bytes:
    """``layers`` 3x3 convolutions + ReLU on a ``1 x channels x size x size`` input ``x``: with
    the defaults a few milliseconds on two threads. Returns the serialized model."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, weights, prev = [], [], "x"
    for i in range(layers):
        w = (rng.standard_normal((channels, channels, 3, 3)) * 0.05).astype(np.float32)
        weights.append(numpy_helper.from_array(w, f"w{i}"))
        nodes += [
            helper.make_node("Conv", [prev, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", [f"c{i}"], [f"y{i}"]),
        ]
        prev = f"y{i}"
    graph = helper.make_graph(
        nodes,
        "convs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, size, size])],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, None)],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()
