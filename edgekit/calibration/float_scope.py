"""Which ONNX nodes INT8 must leave in float: the head's decode tail, found from the graph.

Walking back from the graph outputs, every node up to the last convolution of each head branch is
decode arithmetic (Sigmoid, Softmax + the DFL expectation (MatMul or 1x1 Conv), dist2bbox Sub/Add/Mul, Concat,
Reshape, Transpose, TopK/GatherElements of end-to-end heads, NMS). Quantizing them crushes small
scores and box coordinates; keeping them float costs almost nothing. Works for every family
because it reads only the exported graph. OpenVINO keeps ONNX node names, so the same names serve
NNCF's ignored scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

#: op types that carry the weights of the network (the walk stops at them)
WEIGHTED_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
#: deformable attention's sampling: a graph with it is a DETR-style detector (RT-DETR)
ATTENTION_SAMPLING = ("GridSample",)
#: what a DETR graph keeps float even beside a convolution
ATTENTION_OPS = (
    *("MatMul", "Gemm", "Softmax", "LayerNormalization"),
    *("GridSample", "Gather", "GatherND", "TopK"),  # sampling (bilinear or discrete), query selection
)


@dataclass(frozen=True)
class FloatScope:
    """``tail``: decode nodes kept float; ``head_convs``: the last weighted node of each branch;
    ``head_branches``: every node of the head's branches, from where they fork off the neck to
    their last weighted node (the fallback's first round keeps them float)."""

    tail: Tuple[str, ...]
    head_convs: Tuple[str, ...]
    extra: Tuple[str, ...] = field(default=())
    head_branches: Tuple[str, ...] = field(default=())
    kind: str = "decode"  # what ``tail`` is: the head's "decode" nodes, or "non-convolution" nodes (DETR)

    def nodes(self, keep_last_conv: bool = False) -> List[str]:
        """Node names to exclude from quantization (tail, + head convs if asked, + extra)."""
        names = list(self.tail) + (list(self.head_convs) if keep_last_conv else []) + list(self.extra)
        return list(dict.fromkeys(names))

    def to_dict(self, keep_last_conv: bool = False) -> Dict[str, Any]:
        return {
            "kind": self.kind,
            "tail_nodes": len(self.tail),
            "head_convs": list(self.head_convs),
            "head_branch_nodes": len(self.head_branches),
            "keep_last_conv": keep_last_conv,
            "extra": list(self.extra),
        }


def is_arange(w: np.ndarray) -> bool:
    """A vector ``0, 1, ..., n-1`` (n > 1) in any shape with one axis longer than 1."""
    return w.size > 1 and max(w.shape) == w.size and np.allclose(w.ravel(), np.arange(w.size))


def is_dfl_conv(node: Any, initializers: Dict[str, Any]) -> bool:
    """The DFL expectation: a MatMul (edgekit's form) or a 1x1 Conv with one output channel (the
    form of other exporters) whose constant operand is 0, 1, ..., n-1."""
    if node.op_type not in ("Conv", "MatMul"):
        return False
    from onnx import numpy_helper

    slots = (1,) if node.op_type == "Conv" else (0, 1)
    for slot in slots:
        if len(node.input) > slot and node.input[slot] in initializers:
            w = numpy_helper.to_array(initializers[node.input[slot]])
            if (node.op_type == "MatMul" or w.shape[0] == 1) and is_arange(w):
                return True
    return False


def walk_tail(
    outputs: Iterable[str],
    producer: Callable[[str], Optional[str]],
    inputs: Callable[[str], Sequence[str]],
    stops: Callable[[str], bool],
) -> Tuple[List[str], List[str]]:
    """Walk back from graph ``outputs`` (tensors) to the weighted ops that ``stops`` names.

    ``producer(tensor)`` is the op writing a tensor (None for graph inputs and constants),
    ``inputs(op)`` its input tensors. Returns (tail ops, stop ops) in visiting order. The same
    walk serves ONNX and TFLite graphs.
    """
    tail: List[str] = []
    stopped: List[str] = []
    seen = set()
    stack = list(outputs)
    while stack:
        op = producer(stack.pop())
        if op is None or op in seen:
            continue
        seen.add(op)
        if stops(op):
            stopped.append(op)
            continue
        tail.append(op)
        stack.extend(inputs(op))
    return tail, stopped


def head_float_scope(model: Any, extra: Sequence[str] = (), query_head: bool = False) -> FloatScope:
    """The decode tail and head convolutions of the ONNX ``model`` (an ``onnx.ModelProto``); for a
    DETR-style model (``query_head``, or a graph with deformable attention's ``GridSample``) every
    node but the convolutions and their neighbours (:func:`convolutions_only`).

    ``extra`` names more nodes to keep float (``--keep-float``); an unknown name is an error.
    """
    from edgekit.errors import ConversionError

    graph = model.graph
    nodes = {node.name: node for node in graph.node}
    producer = {out: node.name for node in graph.node for out in node.output}
    initializers = {init.name: init for init in graph.initializer}
    unknown = [n for n in extra if n not in nodes]
    if unknown:
        raise ConversionError(f"--keep-float: no node named {', '.join(unknown)} in the exported graph")
    if query_head or any(node.op_type in ATTENTION_SAMPLING for node in graph.node):
        return convolutions_only(graph, extra)
    tail, convs = walk_tail(
        [out.name for out in graph.output],
        producer.get,
        lambda op: [i for i in nodes[op].input if i and i not in initializers],
        lambda op: nodes[op].op_type in WEIGHTED_OPS and not is_dfl_conv(nodes[op], initializers),
    )
    if not convs:
        raise ConversionError("no convolution found before the graph outputs: not a detector graph")
    order = {node.name: i for i, node in enumerate(graph.node)}
    branches = head_branches(graph, convs, initializers)
    return FloatScope(
        tuple(sorted(tail, key=order.get)),
        tuple(sorted(convs, key=order.get)),
        tuple(extra),
        tuple(sorted(branches, key=order.get)),
    )


CONVS = ("Conv", "ConvTranspose")


def convolutions_only(graph: Any, extra: Sequence[str] = ()) -> FloatScope:
    """A DETR-style graph keeps float everything but its convolutions and the nodes right next to
    them: the transformer encoder and decoder (attention MatMuls and softmax, LayerNorm, the
    sampling offsets and weights, GridSample, the query selection's top-k and the box refinement)
    are where INT8 collapses these models, while the backbone and neck convolutions hold most of
    the arithmetic. The nodes that feed a convolution or read its output (activations, residual
    adds, concats, pooling, resizes) are quantized with it: a Q/DQ convolution runs as an integer
    one only where its input and output tensors are quantized (onnxruntime fuses DQ-Conv-Q)."""
    producer = {out: node for node in graph.node for out in node.output}
    readers: Dict[str, List[Any]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)

    def next_to_conv(node: Any) -> bool:
        before = [producer.get(i) for i in node.input]
        after = [r for out in node.output for r in readers.get(out, [])]
        return any(n is not None and n.op_type in CONVS for n in [*before, *after])

    kept = tuple(
        node.name
        for node in graph.node
        if node.op_type not in CONVS and (node.op_type in ATTENTION_OPS or not next_to_conv(node))
    )
    return FloatScope(kept, (), tuple(extra), (), kind="non-convolution")


def head_branches(graph: Any, last_convs: Sequence[str], initializers: Dict[str, Any]) -> List[str]:
    """The nodes of each head branch: from its last weighted node back through every node whose
    outputs only that branch reads, up to the neck tensor where the branches fork (read by more
    than one branch, or by the neck itself)."""
    by_name = {node.name: node for node in graph.node}
    producer = {out: node.name for node in graph.node for out in node.output}
    readers: Dict[str, List[str]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node.name)
    found: Dict[str, None] = {}
    for last in last_convs:
        branch, todo = {last}, [last]
        while todo:  # a producer turned down now is looked at again when its last reader joins
            for tensor in by_name[todo.pop()].input:
                src = producer.get(tensor)
                if src is None or src in branch or tensor in initializers:
                    continue
                if all(r in branch for out in by_name[src].output for r in readers.get(out, [])):
                    branch.add(src)
                    todo.append(src)
        found.update(dict.fromkeys(branch))
    return list(found)


def conv_nodes(model: Any) -> List[str]:
    """Names of the weighted nodes in graph order (the candidates of mixed-precision fallback)."""
    return [node.name for node in model.graph.node if node.op_type in WEIGHTED_OPS]
