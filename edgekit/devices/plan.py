"""``resolve_plan``: target + user flags -> ``ConversionPlan``, refusing contradictions.

Every refusal is an ``UnsupportedTargetError`` that names the flag and the profile.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

from edgekit.backends import BACKENDS, GRAPH_NMS, NAMES, ONNX_READERS
from edgekit.devices.catalog import CPU_ALIAS, resolve_target
from edgekit.devices.conversion_plan import PLAN_SCHEMA, ConversionPlan
from edgekit.devices.cpu_default import BF16_DEFAULT_NOTE, host_bf16
from edgekit.devices.profiles import (
    DeviceProfile,
    JetPackRelease,
)
from edgekit.errors import UnsupportedTargetError
from edgekit.vocab import CALIB_IMAGES, PRECISIONS

if TYPE_CHECKING:
    from edgekit.devices.host import HostInfo

__all__ = ["PLAN_SCHEMA", "ConversionPlan", "resolve_plan", "without_bf16"]

DEFAULT_OPSET = 17  # widely tested by every runtime edgekit targets; capped by the device
MIN_OPSET = 11
MIN_INT8_OPSET = 13  # per-channel QuantizeLinear/DequantizeLinear (axis attribute)
MAX_STRIDE = 32
MIN_RUNTIME_PYTHON = (3, 8)

_PRECISION_ALIASES = {
    "fp32": "fp32",
    "float32": "fp32",
    "fp16": "fp16",
    "half": "fp16",
    "bf16": "bf16",
    "bfloat16": "bf16",
    "int8": "int8",
}


def _plan_notes(
    profile: Any,
    alias: Optional[str],
    release: Any,
    prec: str,
    backends: Sequence[str],
    dla_core: Optional[int],
    dynamic: bool,
) -> List[str]:
    """What the plan tells the user beside its settings (the profile's own notes first)."""
    notes: List[str] = list(profile.notes)
    if alias == CPU_ALIAS:
        notes.insert(0, f"'cpu' is this machine's CPU: {profile.name}")
    if dla_core is not None and prec == "int8":
        notes.append("INT8 on DLA: layers DLA cannot run in INT8 fall back to the GPU (--allowGPUFallback)")
    if prec == "int8":
        notes.append(f"calibrate on {CALIB_IMAGES}-1000 representative images, not a handful")
    if dynamic and any(BACKENDS.get(name).built_on_device for name in backends):
        notes.append("dynamic batch: the engine is built with a min/opt/max optimization profile")
    if release is not None and release.python_tuple < MIN_RUNTIME_PYTHON:
        notes.append(
            f"JetPack {release.version} ships Python {release.python} and the edgekit runtime needs "
            "Python >= 3.8: convert-only, the bundle carries the ONNX file and the trtexec line"
        )
    return notes


def _release_fields(
    release: Any, prec: str, dla_core: Optional[int], workspace: Optional[int]
) -> Dict[str, Any]:
    """The plan's JetPack facts and trtexec flags (None / empty off Jetson)."""
    if release is None:
        return {"jetpack": None, "l4t": None, "tensorrt": None, "cuda": None, "trtexec_flags": ()}
    return {
        "jetpack": release.version,
        "l4t": release.l4t,
        "tensorrt": release.tensorrt,
        "cuda": release.cuda,
        "trtexec_flags": _trtexec_flags(release, prec, dla_core, workspace),
    }


def resolve_plan(
    target: str,
    *,
    precision: Optional[str] = None,
    backend: Optional[str] = None,
    jetpack: Optional[str] = None,
    dla_core: Optional[int] = None,
    imgsz: Union[int, Sequence[int], None] = None,
    opset: Optional[int] = None,
    dfl: Optional[str] = None,
    nms: Union[bool, str, None] = None,
    dynamic: bool = False,
    host: Optional[HostInfo] = None,
) -> ConversionPlan:
    """Resolve a target name (or alias) and the user's flags into a ``ConversionPlan``; ``host``
    only for the ``cpu`` alias (default: ``detect_host()``), which plans bf16 where the CPU has it
    natively and no precision is asked (``host_bf16``: OpenVINO's hint, the other backends FP32)."""
    profile, alias, prec, backends, auto_bf16 = _target_precision(target, precision, backend, host)
    release = _jetpack(profile, jetpack)
    _check_dla(profile, release, dla_core, prec, dynamic)
    size = _imgsz(profile, imgsz)
    onnx_opset = _opset(profile, release, opset, prec)
    dfl_mode = _dfl(profile, dfl)
    placement = _nms(nms)
    if placement == "graph":
        backends = _graph_nms_backends(profile, backends, backend, dfl_mode)
    output = "nms" if placement == "graph" else profile.output

    int8 = prec == "int8"
    constraints = tuple(c for c in (profile.int8_for(b) for b in backends) if c is not None) if int8 else ()
    notes = _plan_notes(profile, alias, release, prec, backends, dla_core, dynamic)
    if auto_bf16:
        notes.insert(1, BF16_DEFAULT_NOTE)
    workspace = _workspace_mib(profile) if profile.is_jetson else None
    return ConversionPlan(
        target=profile.name,
        title=profile.title,
        alias_used=alias,
        arch=profile.arch,
        backends=backends,
        precision=prec,
        opset=onnx_opset,
        imgsz=size,
        dynamic_batch=bool(dynamic),
        dfl=dfl_mode,
        output=output,
        nms=placement,
        calibration=int8,
        min_calibration_images=CALIB_IMAGES if int8 else 0,
        keep_head_float=int8,
        int8=constraints,
        python=release.python if release else profile.python,
        dla_core=dla_core,
        workspace_mib=workspace,
        **_release_fields(release, prec, dla_core, workspace),
        backend_options=_backend_options(backends, prec),
        convert_only=release is not None and release.python_tuple < MIN_RUNTIME_PYTHON,
        notes=tuple(notes),
    )


def _target_precision(
    target: str, precision: Optional[str], backend: Optional[str], host: Optional[HostInfo]
) -> Tuple[DeviceProfile, Optional[str], str, Tuple[str, ...], bool]:
    """(profile, alias used, precision, backends, whether bf16 is ``cpu``'s default here)."""
    if host is None and target.strip().lower() == CPU_ALIAS:
        from edgekit.devices.host import detect_host

        host = detect_host(probe_modules=False)
    profile, alias = resolve_target(target, host)
    prec = _precision(profile, precision)
    backends = _backends(profile, prec, backend)
    auto_bf16 = host_bf16(profile, alias, precision, backend, host)
    # the FP32 plan's backends, OpenVINO told to compute in bf16
    return profile, alias, "bf16" if auto_bf16 else prec, backends, auto_bf16


def without_bf16(plan: ConversionPlan, why: str) -> ConversionPlan:
    """The ``cpu`` plan whose default bf16 failed its check (``why``): FP32 everywhere, said so."""
    notes = tuple(n for n in plan.notes if n != BF16_DEFAULT_NOTE)
    return replace(
        plan,
        precision="fp32",
        backend_options=_backend_options(plan.backends, "fp32"),
        notes=(*notes, f"bf16 (this CPU's default) failed its check, so OpenVINO computes in f32: {why}"),
    )


# ---- one check per flag -----------------------------------------------------------------


def _refuse(message: str) -> UnsupportedTargetError:
    return UnsupportedTargetError(message)


def _precision(profile: DeviceProfile, precision: Optional[str]) -> str:
    if precision is None:
        return profile.default_precision
    prec = _PRECISION_ALIASES.get(str(precision).strip().lower())
    if prec is None:
        raise _refuse(f"unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)}")
    if prec not in profile.precisions:
        reason = ""
        if prec == "int8" and profile.name == "jetson-nano":
            reason = " (its Maxwell GPU has no INT8 path)"
        elif prec == "fp16" and profile.family == "x86":
            reason = " (no FP16 arithmetic on x86 CPUs; OpenVINO already stores fp16 weights)"
        elif prec == "fp16":
            reason = " (no FP16 arithmetic on this CPU)"
        elif prec == "bf16":
            reason = " (bf16 is OpenVINO's on x86 CPUs with AVX512_BF16 or AMX: --target x86-vnni or x86-amx)"
        raise _refuse(
            f"--precision {prec} is not supported on {profile.name}{reason}; "
            f"supported: {', '.join(profile.precisions)}"
        )
    return prec


def _backends(profile: DeviceProfile, prec: str, backend: Optional[str]) -> Tuple[str, ...]:
    if backend is None:
        return profile.backends_for(prec)
    name = str(backend).strip().lower()
    if name not in NAMES:
        raise _refuse(f"unknown backend '{backend}'; choose one of {', '.join(NAMES)}")
    support = profile.backend(name)
    if support is None:
        raise _refuse(
            f"--backend {name} does not run on {profile.name}; "
            f"its backends: {', '.join(profile.backend_names)}"
        )
    if prec not in support.precisions:
        raise _refuse(
            f"--precision {prec} is not available with --backend {name} on {profile.name} "
            f"({name} runs {', '.join(support.precisions)} there; {prec} runs on "
            f"{', '.join(profile.backends_for(prec))})"
        )
    return (name,)


def _jetpack(profile: DeviceProfile, jetpack: Optional[str]) -> Optional[JetPackRelease]:
    if not profile.is_jetson:
        if jetpack is not None:
            raise _refuse(f"--jetpack applies to Jetson targets only; {profile.name} is not a Jetson")
        return None
    if jetpack is None:
        return profile.jetpack()
    wanted = str(jetpack).strip().lower()
    for prefix in ("jetpack", "jp"):
        if wanted.startswith(prefix):
            wanted = wanted[len(prefix) :].strip(" -_")
    for release in profile.jetpacks:
        if wanted == release.version or wanted.startswith(release.version + "."):
            return release
    choices = ", ".join(r.version for r in profile.jetpacks)
    reason = ""
    if "xavier" in profile.name and wanted[:1] in ("6", "7"):
        reason = " (JetPack 6 and later do not support Xavier)"
    elif profile.name == "jetson-nano" and wanted[:1] != "4":
        reason = " (JetPack 4.6 is the last release for Jetson Nano)"
    elif profile.name == "jetson-thor" and wanted[:1] != "7":
        reason = " (Thor starts with JetPack 7)"
    raise _refuse(
        f"--jetpack {jetpack} is not available for {profile.name}{reason}; "
        f"choose from {choices} (default {profile.default_jetpack})"
    )


def _check_dla(
    profile: DeviceProfile,
    release: Optional[JetPackRelease],
    dla_core: Optional[int],
    prec: str,
    dynamic: bool,
) -> None:
    if dla_core is None:
        return
    if profile.dla_cores == 0:
        raise _refuse(f"--dla-core is not available on {profile.name}: {profile.title} has no DLA")
    if isinstance(dla_core, bool) or not isinstance(dla_core, int) or not 0 <= dla_core < profile.dla_cores:
        raise _refuse(
            f"--dla-core {dla_core} is out of range on {profile.name}: "
            f"it has {profile.dla_cores} DLA cores (0..{profile.dla_cores - 1})"
        )
    if release is not None and not release.dla:
        raise _refuse(
            f"--dla-core needs TensorRT <= 10.7; JetPack {release.version} on {profile.name} ships "
            f"TensorRT {release.tensorrt}, which builds no DLA engines"
        )
    if prec == "fp32":
        raise _refuse(f"--dla-core runs fp16 or int8 only: --precision fp32 contradicts it on {profile.name}")
    if dynamic:
        raise _refuse("--dla-core needs static shapes (DLA has no dynamic dimensions): drop --dynamic")


def _imgsz(profile: DeviceProfile, imgsz: Union[int, Sequence[int], None]) -> Tuple[int, int]:
    if imgsz is None:
        return profile.imgsz
    values = [imgsz] * 2 if isinstance(imgsz, int) else list(imgsz)
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise _refuse(f"--imgsz {imgsz!r} must be one size or (height, width)")
    for value in values:
        if value <= 0 or value % MAX_STRIDE:
            below = max(MAX_STRIDE, value // MAX_STRIDE * MAX_STRIDE)
            above = below + MAX_STRIDE if value > below else below
            nearest = f"{below}" if below == above else f"{below} or {above}"
            raise _refuse(
                f"--imgsz {value} must be a positive multiple of {MAX_STRIDE} (the largest stride): "
                f"nearest {nearest}"
            )
    return values[0], values[1]


def _opset(profile: DeviceProfile, release: Optional[JetPackRelease], opset: Optional[int], prec: str) -> int:
    limit = release.max_opset if release else profile.max_opset
    reader = f"TensorRT {release.tensorrt} (JetPack {release.version})" if release else "onnxruntime >= 1.16"
    if opset is None:
        return min(DEFAULT_OPSET, limit)
    if opset > limit and any(b in ONNX_READERS for b in profile.backend_names):
        raise _refuse(f"--opset {opset} is above what {reader} reads on {profile.name} (max {limit})")
    if opset < MIN_OPSET:
        raise _refuse(f"--opset {opset} is too old: edgekit exports opset {MIN_OPSET} or later")
    if prec == "int8" and opset < MIN_INT8_OPSET:
        raise _refuse(f"--opset {opset} cannot carry per-channel INT8 (needs {MIN_INT8_OPSET} or later)")
    return opset


def _dfl(profile: DeviceProfile, dfl: Optional[str]) -> str:
    if dfl is None:
        return profile.dfl
    mode = str(dfl).strip().lower()
    if mode not in ("fused", "host"):
        raise _refuse(f"--dfl {dfl} is not a choice: 'fused' (in the graph) or 'host' (decoded after)")
    return mode


def _nms(nms: Union[bool, str, None]) -> str:
    if nms is None or nms is False:
        return "host"
    if nms is True:
        return "graph"
    placement = str(nms).strip().lower()
    if placement not in ("host", "graph"):
        raise _refuse(f"--nms {nms} is not a choice: 'graph' (in the model) or 'host'")
    return placement


def _graph_nms_backends(
    profile: DeviceProfile, backends: Tuple[str, ...], explicit: Optional[str], dfl: str
) -> Tuple[str, ...]:
    if dfl == "host":
        raise _refuse("in-graph NMS needs decoded boxes: --nms graph contradicts --dfl host")
    kept = tuple(b for b in backends if b in GRAPH_NMS)
    if not kept:
        which = f"--backend {explicit}" if explicit else f"the {', '.join(backends)} backend(s)"
        raise _refuse(f"--nms graph is not available with {which} on {profile.name}")
    return kept


def _workspace_mib(profile: DeviceProfile) -> int:
    # A quarter of the smallest module's memory, at most 4 GiB: 4 GB Jetsons run out of
    # memory during engine builds with TensorRT's default (all free memory).
    memory = profile.min_memory_gb or 4
    return min(memory * 1024 // 4, 4096)


def _trtexec_flags(
    release: JetPackRelease, prec: str, dla_core: Optional[int], workspace: Optional[int]
) -> Tuple[str, ...]:
    flags: List[str] = []
    if prec == "fp16":
        flags.append("--fp16")
    elif prec == "int8":
        flags += ["--int8", "--fp16"]  # Q/DQ layers run INT8, the float head runs FP16
    if dla_core is not None:
        flags += [f"--useDLACore={dla_core}", "--allowGPUFallback"]
    if workspace is not None:
        # --memPoolSize exists from TensorRT 8.4; 8.2 (JetPack 4.6) only knows --workspace (MiB)
        old = release.tensorrt_tuple < (8, 4)
        flags.append(f"--workspace={workspace}" if old else f"--memPoolSize=workspace:{workspace}")
    return tuple(flags)


def _backend_options(backends: Tuple[str, ...], prec: str) -> Tuple[Tuple[str, str, str], ...]:
    # a runtime that picks a float precision by itself is told what the plan means
    told = [BACKENDS.get(name) for name in backends if BACKENDS.get(name).precision_option]
    return tuple((b.name, b.precision_option, b.precision_value(prec)) for b in told)
