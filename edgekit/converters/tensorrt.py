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
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

from edgekit.bundle.records import EngineBuild
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


INPUT_NAME = "images"  # the input every edgekit ONNX has
FP16_ONNX_SUFFIX = "-fp16.onnx"
_PRECISION_FLAGS = ("--fp16", "--int8", "--best")  # gone from trtexec 11 (strongly typed networks)


def _shape_flags(plan: Any) -> List[str]:
    """``--minShapes/--optShapes/--maxShapes`` of a dynamic-batch plan (none for a static batch)."""
    if plan.batch_range is None:
        return []
    h, w = plan.imgsz
    low, opt, high = plan.batch_range
    return [f"--{k}Shapes={INPUT_NAME}:{b}x3x{h}x{w}" for k, b in (("min", low), ("opt", opt), ("max", high))]


def trtexec_command(plan: Any, onnx_name: str, engine_name: str = ENGINE_NAME, tensorrt: str = "") -> str:
    """The ``trtexec`` line equivalent to ``edgekit build`` for ``plan`` (run in the bundle folder).

    ``tensorrt`` (default: the plan's) picks the flags: trtexec 11 has no ``--fp16/--int8``; it
    builds what the ONNX's types say (give it the FP16 or the Q/DQ ONNX).
    """
    major = _version_tuple(tensorrt or plan.tensorrt or "10")[0]
    flags = [f for f in plan.trtexec_flags if major < 11 or f not in _PRECISION_FLAGS]
    args = ["trtexec", f"--onnx={onnx_name}", f"--saveEngine={engine_name}", *flags, *_shape_flags(plan)]
    args.append("--timingCacheFile=timing.cache")
    return " ".join(shlex.quote(a) for a in args)


def fp16_onnx_name(onnx_name: str) -> str:
    """Where the FP16 copy of ``onnx_name`` goes (TensorRT 11 builds FP16 from FP16 tensors)."""
    return (
        onnx_name[: -len(".onnx")] + FP16_ONNX_SUFFIX if onnx_name.endswith(".onnx") else onnx_name + ".fp16"
    )


def needs_fp16_onnx(plan: Any) -> bool:
    """An FP16 plan whose board may build with TensorRT 11 (its own, or the pip one of its JetPack)."""
    return plan.precision == "fp16" and any(_version_tuple(v)[0] >= 11 for v in _tensorrt_versions(plan))


def write_fp16_onnx(onnx_path: Path) -> str:
    """Write the FP16 copy of ``onnx_path`` beside it (float32 interface kept); returns its name."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(onnx_path)), keep_io_types=True)
    name = fp16_onnx_name(onnx_path.name)
    onnx.save(model, str(onnx_path.with_name(name)))
    return name


def _tensorrt_versions(plan: Any) -> List[str]:
    """The plan's TensorRT, then the pip TensorRT its JetPack also takes (JetPack 7.2: 11.4)."""
    from edgekit.devices.jetpack import PIP_TENSORRT

    versions = [plan.tensorrt] if plan.tensorrt else []
    pip = PIP_TENSORRT.get(plan.jetpack or "")
    if pip is not None and plan.dla_core is None:  # the plan refuses DLA on JetPack's own TensorRT
        versions.append(pip[0])
    return versions


def _trtexec_lines(plan: Any, onnx_name: str, fp16: Optional[str]) -> Dict[str, str]:
    """One trtexec line per TensorRT the board may build with; TensorRT 11 FP16 only from ``fp16``."""
    lines = {}
    for version in _tensorrt_versions(plan):
        strongly_typed = _version_tuple(version)[0] >= 11
        if strongly_typed and plan.precision == "fp16" and not fp16:
            continue  # TensorRT 11 would build FP32 from the FP32 ONNX
        onnx = fp16 if strongly_typed and plan.precision == "fp16" else onnx_name
        lines[version] = trtexec_command(plan, str(onnx), tensorrt=version)
    return lines


def build_section(plan: Any, onnx_name: str, onnx_fp16: Optional[str] = None) -> EngineBuild:
    """The manifest's record of how the device builds the engine (one trtexec line per TensorRT).

    ``onnx_fp16``: the FP16 copy (``write_fp16_onnx``) TensorRT 11 builds an FP16 engine from.
    """
    d = plan.to_dict()
    fp16 = onnx_fp16 if plan.precision == "fp16" else None
    lines = _trtexec_lines(plan, onnx_name, fp16)
    section: Dict[str, Any] = {
        "onnx": onnx_name,
        "precision": plan.precision,
        "tensorrt": d.get("tensorrt"),
        "jetpack": d.get("jetpack"),
        "workspace_mib": d.get("workspace_mib"),
        "dla_core": d.get("dla_core"),
        "gpu_fallback": d.get("dla_core") is not None,
        "max_batch": plan.batch_range[2] if plan.batch_range else 1,
        "timing_cache": "timing.cache",
        "trtexec": trtexec_command(plan, onnx_name),
        "trtexec_by_tensorrt": lines,
    }
    if plan.batch_range is not None:
        section["batch"] = dict(zip(("min", "opt", "max"), plan.batch_range))
    if fp16:
        section["onnx_fp16"] = fp16
    return EngineBuild.from_dict(section, "build.")


def unsupported_nodes(model: Any, tensorrt: str) -> List[str]:
    """Every ``node (op)`` TensorRT ``tensorrt`` cannot parse (for reports; the check stops at one)."""
    supported = set(table_for(tensorrt)[1]["supported"])
    return [f"{n.name} ({n.op_type})" for n in _unsupported(model, supported)]


def _unsupported(model: Any, supported: Set[str]) -> Iterator[Any]:
    """Standard-domain nodes outside ``supported`` (plugins, e.g. EfficientNMS_TRT, have their own)."""
    return (n for n in model.graph.node if n.domain in ("", "ai.onnx") and n.op_type not in supported)


def device_build(b: Any) -> EngineBuild:
    """The TensorRT backend's ``device_build`` stage (``edgekit.converters.stages.Build``): the ONNX
    checked against the JetPack's TensorRT parser, and the build the device runs."""
    import onnx

    path = b.onnx_path
    checked = check_onnx_for_tensorrt(onnx.load(str(path)), b.plan.tensorrt, path.name)
    fp16_onnx = write_fp16_onnx(path) if needs_fp16_onnx(b.plan) else None  # TensorRT 11 builds FP16 from it
    build = build_section(b.plan, path.name, fp16_onnx)
    b.say(
        f"ONNX parses in TensorRT {b.plan.tensorrt}: {checked['ops_checked']} nodes, "
        f"opset {checked['opset']}; build on the device: {build.trtexec}"
    )
    return build
