"""TensorRT engines of a bundle: the key an engine is tied to, where it lives, and building it.

An engine is plain ``.engine`` bytes (no header: trtexec, DeepStream and Triton load it) stored
in ``BUNDLE/engines/<key>.engine`` with a ``<key>.json`` note beside it. The key holds the
TensorRT version, GPU name and compute capability, DLA core, precision and the ONNX hash: when
any of them changes the engine is rebuilt, never run. Written against the TensorRT Python API
of 8.5/8.6 (JetPack 5) and 10.x (JetPack 6/7); the symbols used are listed per version in
``edgekit/runtimes/data/tensorrt_api.json``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

from edgekit._optional import require
from edgekit.errors import BackendError

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


def tensorrt_major(trt: Any) -> int:
    return int(str(trt.__version__).split(".")[0])


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
    engines makes rebuilds faster.
    """
    trt = require("tensorrt", "tensorrt", JETPACK_HINT)
    from edgekit.runtimes.cuda import free_memory

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # TensorRT 10 networks are always explicit-batch; 8.x needs the flag
    flags = 0 if tensorrt_major(trt) >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    _parse(trt, network, logger, onnx_path)
    config = builder.create_builder_config()
    cap_mib = int(workspace_mib or build.get("workspace_mib") or 1024)
    cap = min(cap_mib << 20, free_memory() // 2)
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, cap)
    precision = build["precision"]
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)  # INT8 bundles: the float head runs FP16
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)  # explicit Q/DQ scales; no calibrator
    if build.get("dla_core") is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = int(build["dla_core"])
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    cache_file = Path(dest).parent / "timing.cache"
    cache = config.create_timing_cache(cache_file.read_bytes() if cache_file.is_file() else b"")
    config.set_timing_cache(cache, False)
    started = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f"{onnx_path}: TensorRT could not build an engine (see its log above)")
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(dest).with_suffix(".engine.tmp")
    tmp.write_bytes(bytes(serialized))
    os.replace(tmp, dest)
    cache_tmp = cache_file.with_suffix(".tmp")
    cache_tmp.write_bytes(bytes(config.get_timing_cache().serialize()))
    os.replace(cache_tmp, cache_file)
    seconds = time.perf_counter() - started
    note = {"tensorrt": str(trt.__version__), "precision": precision, "seconds": round(seconds, 1)}
    Path(dest).with_suffix(".json").write_text(json.dumps(note, indent=2) + "\n")
    say(f"built TensorRT {precision} engine in {seconds:.0f}s: {dest}")
    return Path(dest)


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
    build = dict(manifest.target.get("build") or {})
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
    return build_engine(Path(bundle_root) / onnx_rel, build, path, say)
