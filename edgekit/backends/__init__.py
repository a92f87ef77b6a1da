"""The inference backends edgekit writes and runs, one descriptor file each.

``BACKENDS`` (a ``Registry`` of ``Backend``) is filled by importing every module of this package;
adding a backend is one new file here (plus its runtime in ``edgekit.runtimes`` and, on the
converter side, its artifact writer). ``NAMES`` lists them in plan preference order.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Tuple

from edgekit.backends.base import BACKENDS, Backend, Module, Serving, register

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name != "base":
        importlib.import_module(f"{__name__}.{_info.name}")


def ordered() -> Tuple[Backend, ...]:
    """Every backend, in plan preference order (``Backend.rank``)."""
    return tuple(sorted((BACKENDS.get(n) for n in BACKENDS), key=lambda b: b.rank))


#: the backend that runs an ONNX as exported: the converter verifies every ONNX with it, and it
#: runs the ONNX of a model built on the device (a TensorRT bundle) on a machine without that backend
REFERENCE = "onnxruntime"
#: backend names in plan preference order
NAMES: Tuple[str, ...] = tuple(b.name for b in ordered())
#: backends that read the exported ONNX file (opset limits apply to them)
ONNX_READERS: Tuple[str, ...] = tuple(b.name for b in ordered() if b.reads_onnx)
#: backends whose graphs can carry NMS
GRAPH_NMS: Tuple[str, ...] = tuple(b.name for b in ordered() if b.graph_nms)

__all__ = [
    "BACKENDS",
    "GRAPH_NMS",
    "NAMES",
    "ONNX_READERS",
    "REFERENCE",
    "Backend",
    "Module",
    "Serving",
    "ordered",
    "register",
]
