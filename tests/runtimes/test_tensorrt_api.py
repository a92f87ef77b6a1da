"""Every TensorRT / cuda-python symbol edgekit calls exists in each supported release.

The table (``edgekit/runtimes/data/tensorrt_api.json``) was read off NVIDIA's binding sources per
release (tags and files recorded in it). This test reads edgekit's TensorRT code with ``ast``:
attribute chains on the ``trt`` module, on the cuda-python runtime module, and on the TensorRT
objects the code holds (builder, config, parser, engine, context, ...).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Dict, Optional, Set

ROOT = Path(__file__).resolve().parents[2]
TABLE = json.loads((ROOT / "edgekit" / "runtimes" / "data" / "tensorrt_api.json").read_text())
FILES = [ROOT / "edgekit" / "runtimes" / f for f in ("tensorrt.py", "trt_engine.py", "cuda.py")]
# names the code binds to TensorRT objects -> their class in the table
OBJECTS = {
    "builder": "Builder",
    "config": "IBuilderConfig",
    "parser": "OnnxParser",
    "first": "ParserError",
    "self.engine": "ICudaEngine",
    "self.context": "IExecutionContext",
    "self.trt_runtime": "Runtime",
}
# calls whose result is another TensorRT object
RETURNS = {"IBuilderConfig.get_timing_cache": "ITimingCache", "OnnxParser.get_error": "ParserError"}


def dotted(node: ast.AST) -> Optional[str]:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def owner_class(node: ast.AST) -> Optional[str]:
    """The table class of the object an attribute is read on (None: not a TensorRT object)."""
    name = dotted(node)
    if name in OBJECTS:
        return OBJECTS[name]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        inner = owner_class(node.func.value)
        if inner:
            return RETURNS.get(f"{inner}.{node.func.attr}")
    return None


def used_symbols() -> Dict[str, Set[str]]:
    trt: Set[str] = set()
    cuda: Set[str] = set()
    for path in FILES:
        tree = ast.parse(path.read_text())
        inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or id(node) in inner:  # whole chains only
                continue
            chain = dotted(node)
            if chain and chain.startswith("trt."):
                trt.add(chain[len("trt.") :])
            elif chain and chain.startswith("rt.") and chain.count(".") <= 2:
                cuda.add(chain[len("rt.") :])
            elif isinstance(node.value, ast.Call) and dotted(node.value.func) == "cudart":
                cuda.add(node.attr)
            owner = owner_class(node.value)
            if owner:
                trt.add(f"{owner}.{node.attr}")
    return {"tensorrt": trt, "cuda": cuda}


def test_the_scan_sees_the_calls_that_matter() -> None:
    used = used_symbols()
    assert {
        "IExecutionContext.execute_async_v3",
        "Builder.build_serialized_network",
        "OnnxParser.parse",
    } <= used["tensorrt"]
    assert {
        "cudaMemcpyAsync",
        "cudaGraphInstantiateWithFlags",
        "cudaMemcpyKind.cudaMemcpyHostToDevice",
    } <= used["cuda"]


def test_every_tensorrt_symbol_exists_in_every_supported_release() -> None:
    used = used_symbols()["tensorrt"]
    for version, entry in TABLE["tensorrt"].items():
        missing = sorted(used - set(entry["present"]))
        assert not missing, f"TensorRT {version} lacks {missing}"
        assert not used & set(entry.get("absent", [])), version


def test_every_cuda_symbol_exists_in_every_checked_cuda_python() -> None:
    used = used_symbols()["cuda"]
    missing = sorted(used - set(TABLE["cuda_python"]["present"]))
    assert not missing, f"cuda-python lacks {missing} (checked: {TABLE['cuda_python']['versions_checked']})"


def test_removed_apis_are_not_called() -> None:
    code = "\n".join(p.read_text() for p in FILES)
    for removed in ("execute_async_v2", "num_bindings", ".build_engine(", "max_batch_size", "get_binding"):
        assert removed not in code, removed
