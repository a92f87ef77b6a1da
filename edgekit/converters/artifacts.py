"""The bundle's model files: one writer per backend's artifact, the host interface, tool versions."""

from __future__ import annotations

import dataclasses
import platform
import time
from pathlib import Path
from typing import Any, Callable, Dict

from edgekit import __version__, progress
from edgekit._optional import version_of
from edgekit.backends import BACKENDS
from edgekit.bundle import BundleWriter, Manifest
from edgekit.bundle.manifest import Artifact
from edgekit.converters.options import ConvertOptions
from edgekit.converters.verify_bundle import sample_images

Log = Callable[[str], None]


def verification_samples(manifest: Manifest, opts: ConvertOptions) -> Any:
    """The user's images (``--calib``, else ``--val``) when given, else generated ones."""
    if opts.calib is not None:
        return sample_images(manifest, Path(opts.calib))
    if opts.val is not None:
        return sample_images(manifest, Path(opts.val), split=opts.val_split)
    return sample_images(manifest)


def artifact_precision(backend: str, plan_precision: str) -> str:
    """What ``backend``'s artifact really holds for the plan (fp16 plan, onnxruntime model: FP32 ONNX)."""
    return plan_precision if plan_precision in BACKENDS.get(backend).precisions else "fp32"


def write_artifact(
    writer: BundleWriter,
    onnx_path: Path,
    backend: str,
    plan_precision: str,
    say: Log,
    module: Any = None,
    sample: Any = None,
) -> Artifact:
    """Write (or reuse) ``backend``'s model file(s) beside the ONNX and describe them for the manifest.

    TFLite is lowered from the exported torch ``module`` (input ``sample``), not from the ONNX.
    """
    precision = artifact_precision(backend, plan_precision)
    if backend == "tflite":
        from edgekit.converters.tflite import write_tflite

        started = time.perf_counter()
        with progress.step(f"lowering to TFLite {precision} (LiteRT)"):
            name = write_tflite(module, sample, writer.dir, precision)
        size = (writer.dir / name).stat().st_size
        say(f"wrote TFLite {precision} in {time.perf_counter() - started:.1f}s ({size / 1e6:.2f} MB)")
        return writer.artifact(name, backend, precision)
    if backend == "openvino":
        from edgekit.converters.openvino import write_ir

        started = time.perf_counter()
        with progress.step(f"writing the OpenVINO {precision} IR"):
            xml, weights = write_ir(onnx_path, writer.dir, precision)
        size = (writer.dir / weights).stat().st_size
        say(
            f"wrote OpenVINO {precision} IR in {time.perf_counter() - started:.1f}s "
            f"({size / 1e6:.2f} MB weights)"
        )
        return writer.artifact(xml, backend, precision, extra=[weights])
    from edgekit.converters.tensorrt import fp16_onnx_name

    fp16 = fp16_onnx_name(onnx_path.name)  # TensorRT 11's FP16 source, when the plan wrote one
    extra = [fp16] if backend == "tensorrt" and (writer.dir / fp16).is_file() else []
    return writer.artifact(
        onnx_path.name, backend, precision, extra=extra
    )  # onnxruntime, tensorrt (built on device)


def with_host_io(writer: BundleWriter, manifest: Manifest, say: Log) -> Manifest:
    """The onnxruntime artifact with its host interface (``edgekit.converters.host_io``), where it
    has its own ONNX (a TensorRT artifact builds from the same file, with the float interface)."""
    from edgekit.converters.host_io import applies, write_host_io

    backends = {a.backend for a in manifest.artifacts}
    if "onnxruntime" not in backends or "tensorrt" in backends or not applies(manifest):
        return manifest
    art = manifest.artifact("onnxruntime")
    io, extra = write_host_io(writer.dir / art.path, manifest)
    fresh = writer.artifact(art.path, art.backend, art.precision)
    host = dataclasses.replace(fresh, io=io, extra_outputs=extra)
    say(
        "onnxruntime model: uint8 pixel input"
        + (f", {' and '.join(o.name for o in extra)} outputs" if extra else "")
        + " (--no-host-io: float input)"
    )
    return dataclasses.replace(manifest, artifacts=tuple(host if a is art else a for a in manifest.artifacts))


def tool_versions() -> Dict[str, str]:
    tools = {"python": platform.python_version(), "edgekit": __version__}
    for name in ("torch", "onnx", "onnxruntime", "onnxslim", "openvino", "nncf", "numpy"):
        version = version_of(name)
        if version:
            tools[name] = version
    return tools
