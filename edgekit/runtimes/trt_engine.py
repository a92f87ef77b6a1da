"""TensorRT engines of a bundle: the key an engine is tied to, where it lives, and building it.

An engine is plain ``.engine`` bytes (no header: trtexec, DeepStream and Triton load it) stored
in ``BUNDLE/engines/<key>.engine`` with a ``<key>.json`` note beside it. The key holds the
TensorRT version, GPU name and compute capability, DLA core, precision and the ONNX hash: when
any of them changes the engine is rebuilt, never run. Written for TensorRT 8.5/8.6 (JetPack 5/6.0),
10.x (JetPack 6.1-7.2) and 11.x (pip, JetPack 7.2.2+): 11.x has no FP16/INT8 builder flags, its
networks are strongly typed (INT8 from the Q/DQ ONNX, FP16 from the bundle's FP16 ONNX). The
contract tests run this code against stand-ins generated from each release's real bindings
(``tests/data/tensorrt_api/``); another major is refused in one line.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from edgekit._optional import require
from edgekit.errors import BackendError, TensorRtVersionError

ENGINE_DIR = "engines"
JETPACK_HINT = "TensorRT comes with JetPack: create the venv with --system-site-packages"


def engine_key(
    tensorrt: str,
    gpu: str,
    compute_capability: Sequence[int],
    dla_core: Optional[int],
    precision: str,
    onnx_sha256: str,
) -> str:
    """What an engine is tied to, as a file-name-safe key: a change of any part means a rebuild."""
    cc = "".join(str(int(c)) for c in compute_capability)
    gpu_id = "".join(ch if ch.isalnum() else "-" for ch in gpu.lower()).strip("-")
    dla = f"dla{dla_core}" if dla_core is not None else "gpu"
    return f"trt{tensorrt}-sm{cc}-{gpu_id}-{dla}-{precision}-{onnx_sha256[:12]}"


#: the TensorRT majors this code is written (and contract-checked) for
KNOWN_MAJORS = (8, 10, 11)


def tensorrt_major(trt: Any) -> int:
    """The major version of the imported TensorRT module."""
    return int(str(trt.__version__).split(".")[0])


def checked_major(trt: Any) -> int:
    """The TensorRT major, refused in one line when this code does not know it."""
    major = tensorrt_major(trt)
    if major not in KNOWN_MAJORS:
        known = ", ".join(f"{m}.x" for m in KNOWN_MAJORS)
        raise TensorRtVersionError(
            f"TensorRT {trt.__version__} is not one edgekit builds with (it knows {known}); "
            "use the TensorRT of a supported JetPack or upgrade edgekit-detect"
        )
    return major


def device_key(trt: Any, build: Dict[str, Any], onnx_sha256: str) -> str:
    """The key of the engine this device needs for the bundle's ``build`` section."""
    from edgekit.runtimes.cuda import device_info

    gpu, cc = device_info()
    return engine_key(str(trt.__version__), gpu, cc, build.get("dla_core"), build["precision"], onnx_sha256)


def engine_path(bundle_root: Path, key: str) -> Path:
    return Path(bundle_root) / ENGINE_DIR / f"{key}.engine"


def build_command(bundle_root: Path) -> str:
    return f"edgekit build {bundle_root}"


def _parse(trt: Any, network: Any, logger: Any, onnx_path: Path) -> None:
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = [parser.get_error(i) for i in range(parser.num_errors)]
        first = errors[0] if errors else None
        detail = f"{first.desc()} (node {first.node()})" if first is not None else "no parser message"
        raise BackendError(f"{onnx_path}: TensorRT cannot parse the ONNX model: {detail}")


def _network(trt: Any, builder: Any, major: int) -> Any:
    """An explicit-batch network: 8.x needs the flag, 10.x has no other kind, 11.x is strongly typed."""
    if major >= 11:  # precisions come from the ONNX's types (Q/DQ for INT8, FP16 tensors for FP16)
        return builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    if major >= 10:
        return builder.create_network(0)
    return builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))


def _precision_flags(trt: Any, config: Any, build: Dict[str, Any], major: int) -> None:
    """Builder flags for the plan's precision (TensorRT < 11) and DLA placement."""
    precision = build["precision"]
    if major < 11 and precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)  # INT8 bundles: the float head runs FP16
    if major < 11 and precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)  # explicit Q/DQ scales; no calibrator
    if build.get("dla_core") is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = int(build["dla_core"])
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)


def batch_range(build: Dict[str, Any]) -> Optional[Tuple[int, int, int]]:
    """``(min, opt, max)`` batch of a dynamic-batch build section; None for a static batch."""
    batch = build.get("batch")
    if not isinstance(batch, dict):
        return None
    low, opt, high = (int(batch[k]) for k in ("min", "opt", "max"))
    if not 1 <= low <= opt <= high:
        raise BackendError(f"the bundle's batch range {batch} is not 1 <= min <= opt <= max")
    return low, opt, high


def _optimization_profile(builder: Any, network: Any, config: Any, build: Dict[str, Any]) -> None:
    """Dynamic batch: one profile with the plan's min/opt/max batch for every input."""
    batches = batch_range(build)
    if batches is None:
        return
    profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        rest = tuple(int(d) for d in tuple(tensor.shape)[1:])
        if any(d < 0 for d in rest):
            raise BackendError(f"input {tensor.name} has dynamic dimensions beyond the batch: {rest}")
        low, opt, high = ((b, *rest) for b in batches)
        profile.set_shape(tensor.name, low, opt, high)
    config.add_optimization_profile(profile)


def _write_atomic(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, dest)


def build_engine(
    onnx_path: Path,
    build: Dict[str, Any],
    dest: Path,
    say: Callable[[str], None] = print,
    workspace_mib: Optional[int] = None,
) -> Path:
    """Build the engine for ``build`` (the manifest's build section) and write it atomically to ``dest``.

    The memory-pool cap is the plan's workspace, lowered to half the free device memory on small
    boards (a 4 GB board otherwise runs out of memory while building). A timing cache beside the
    engines makes rebuilds faster. Dynamic-batch sections get an optimization profile.
    """
    trt = require("tensorrt", "tensorrt", JETPACK_HINT)
    from edgekit.runtimes.cuda import free_memory

    major = checked_major(trt)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = _network(trt, builder, major)
    _parse(trt, network, logger, onnx_path)
    config = builder.create_builder_config()
    cap_mib = int(workspace_mib or build.get("workspace_mib") or 1024)
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, min(cap_mib << 20, free_memory() // 2))
    _precision_flags(trt, config, build, major)
    _optimization_profile(builder, network, config, build)
    cache_file = Path(dest).parent / "timing.cache"
    cache = config.create_timing_cache(cache_file.read_bytes() if cache_file.is_file() else b"")
    config.set_timing_cache(cache, False)
    started = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f"{onnx_path}: TensorRT could not build an engine (see its log above)")
    _write_atomic(Path(dest), bytes(serialized))
    _write_atomic(cache_file, bytes(config.get_timing_cache().serialize()))
    seconds = time.perf_counter() - started
    precision = build["precision"]
    note = {"tensorrt": str(trt.__version__), "precision": precision, "seconds": round(seconds, 1)}
    Path(dest).with_suffix(".json").write_text(json.dumps(note, indent=2) + "\n")
    say(f"built TensorRT {precision} engine in {seconds:.0f}s: {dest}")
    return Path(dest)


def build_onnx(build: Dict[str, Any], onnx_rel: str, major: int) -> str:
    """The ONNX file TensorRT ``major`` builds from: 11.x takes FP16 from an FP16 ONNX."""
    if major >= 11 and build.get("precision") == "fp16":
        fp16 = build.get("onnx_fp16")
        if not fp16:
            raise TensorRtVersionError(
                "TensorRT 11 takes FP16 from an FP16 ONNX and this bundle has none: "
                "convert it again with this edgekit-detect (or use --precision fp32 / int8)"
            )
        return str(fp16)
    return onnx_rel


def ensure_engine(
    bundle_root: Path,
    manifest: Any,
    onnx_rel: str,
    onnx_sha256: str,
    allow_build: bool = True,
    force: bool = False,
    say: Callable[[str], None] = print,
) -> Path:
    """The engine for this device: the stored one when its key matches, else a fresh build.

    With ``allow_build=False`` a missing engine is an error naming the ``edgekit build`` command.
    """
    trt = require("tensorrt", "tensorrt", JETPACK_HINT)
    checked_major(trt)
    build = manifest.build.to_dict() if manifest.build is not None else {}
    if not build:
        raise BackendError(
            f"{bundle_root}: the bundle has no TensorRT build section (convert for a Jetson target)"
        )
    key = device_key(trt, build, onnx_sha256)
    path = engine_path(bundle_root, key)
    if path.is_file() and not force:
        return path
    if not allow_build:
        raise BackendError(
            f"{bundle_root}: no TensorRT engine for this device ({key}); run: {build_command(bundle_root)}"
        )
    say(f"building the TensorRT engine for this device ({key}); this takes minutes, once")
    onnx_file = build_onnx(build, onnx_rel, checked_major(trt))
    return build_engine(Path(bundle_root) / onnx_file, build, path, say)
