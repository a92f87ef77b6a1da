"""TensorRT-ready ONNX for Jetson bundles: op/opset check per TensorRT release, the build command.

The engine itself is built on the device (``edgekit build``): engines are tied to the GPU and the
TensorRT version. Conversion, anywhere, writes the ONNX TensorRT parses (FP32 weights for FP16/FP32
engines; symmetric Q/DQ for INT8, calibrated on the host CPU) and checks it against the operator
table of that release's ONNX parser (``edgekit/devices/data/tensorrt_onnx_ops.json``, from
onnx-tensorrt's ``docs/operators.md``).
"""

from __future__ import annotations

import json
import shlex
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set, Tuple

from edgekit.errors import ConversionError

OPS_TABLE = Path(__file__).resolve().parents[1] / "devices" / "data" / "tensorrt_onnx_ops.json"
ENGINE_NAME = "model.engine"  # the trtexec line's output (edgekit build keys its engines by device)


@lru_cache(maxsize=1)
def ops_table() -> Dict[str, Any]:
    """The committed per-release operator table (see the module docstring)."""
    return json.loads(OPS_TABLE.read_text())


def _version_tuple(version: str) -> Tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def table_for(tensorrt: str) -> Tuple[str, Dict[str, Any]]:
    """The table entry for TensorRT ``tensorrt`` (e.g. ``10.3``): the same major.minor, else the
    newest entry of the same major that is not newer; refuses a release the table cannot speak for."""
    versions = ops_table()["versions"]
    want = _version_tuple(tensorrt)[:2]
    if ".".join(map(str, want)) in versions:
        key = ".".join(map(str, want))
        return key, versions[key]
    same_major = sorted(
        (v for v in versions if _version_tuple(v)[0] == want[0] and _version_tuple(v)[:2] <= want),
        key=_version_tuple,
    )
    if not same_major:
        have = ", ".join(sorted(versions, key=_version_tuple))
        raise ConversionError(f"no ONNX operator table for TensorRT {tensorrt} (have {have})")
    return same_major[-1], versions[same_major[-1]]


def check_onnx_for_tensorrt(model: Any, tensorrt: str, name: str = "model.onnx") -> Dict[str, Any]:
    """Refuse ops or an opset that TensorRT ``tensorrt``'s ONNX parser does not take.

    ``model`` is an ``onnx.ModelProto``. The error names the first offending node and its op.
    """
    key, entry = table_for(tensorrt)
    supported = set(entry["supported"])
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if entry.get("max_opset") and opset > int(entry["max_opset"]):
        raise ConversionError(
            f"{name}: opset {opset} is newer than TensorRT {tensorrt} parses (up to {entry['max_opset']}); "
            f"pass --opset {entry['max_opset']}"
        )
    for node in _unsupported(model, supported):
        raise ConversionError(
            f"{name}: node {node.name or '(unnamed)'} uses {node.op_type}, which the ONNX parser of "
            f"TensorRT {tensorrt} does not support"
        )
    return {"tensorrt_table": key, "opset": opset, "ops_checked": len(model.graph.node)}


def trtexec_command(plan: Any, onnx_name: str, engine_name: str = ENGINE_NAME) -> str:
    """The ``trtexec`` line equivalent to ``edgekit build`` for ``plan`` (run in the bundle folder)."""
    args = ["trtexec", f"--onnx={onnx_name}", f"--saveEngine={engine_name}", *plan.trtexec_flags]
    args.append("--timingCacheFile=timing.cache")
    return " ".join(shlex.quote(a) for a in args)


def build_section(plan: Any, onnx_name: str) -> Dict[str, Any]:
    """The manifest's record of how the device builds the engine."""
    d = plan.to_dict()
    return {
        "onnx": onnx_name,
        "precision": plan.precision,
        "tensorrt": d.get("tensorrt"),
        "jetpack": d.get("jetpack"),
        "workspace_mib": d.get("workspace_mib"),
        "dla_core": d.get("dla_core"),
        "gpu_fallback": d.get("dla_core") is not None,
        "max_batch": 1 if not plan.dynamic_batch else None,
        "timing_cache": "timing.cache",
        "trtexec": trtexec_command(plan, onnx_name),
    }


def unsupported_nodes(model: Any, tensorrt: str) -> List[str]:
    """Every ``node (op)`` TensorRT ``tensorrt`` cannot parse (for reports; the check stops at one)."""
    supported = set(table_for(tensorrt)[1]["supported"])
    return [f"{n.name} ({n.op_type})" for n in _unsupported(model, supported)]


def _unsupported(model: Any, supported: Set[str]) -> Iterator[Any]:
    """Standard-domain nodes outside ``supported`` (plugins, e.g. EfficientNMS_TRT, have their own)."""
    return (n for n in model.graph.node if n.domain in ("", "ai.onnx") and n.op_type not in supported)
