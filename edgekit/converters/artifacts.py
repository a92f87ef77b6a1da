"""The bundle's model files: one writer per backend's artifact, the host interface, tool versions."""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path
from typing import Any, Callable, Dict

from edgekit import __version__
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


#: ``(writer, onnx_path, backend, precision, say, module, sample) -> Artifact``: a backend's
#: artifact writer (``Backend.writer``), which writes (or reuses) its model file(s) beside the ONNX
ArtifactWriter = Callable[[BundleWriter, Path, str, str, Log, Any, Any], Artifact]


def write_artifact(
    writer: BundleWriter,
    onnx_path: Path,
    backend: str,
    plan_precision: str,
    say: Log,
    module: Any = None,
    sample: Any = None,
) -> Artifact:
    """Write ``backend``'s model file(s) through its descriptor's writer and describe them for the
    manifest. TFLite is lowered from the exported torch ``module`` (input ``sample``), not the ONNX."""
    precision = artifact_precision(backend, plan_precision)
    write: ArtifactWriter = BACKENDS.get(backend).hook("writer")
    return write(writer, onnx_path, backend, precision, say, module, sample)


def write_onnx_artifact(
    writer: BundleWriter, onnx_path: Path, backend: str, precision: str, say: Log, module: Any, sample: Any
) -> Artifact:
    """The exported ONNX itself (onnxruntime; TensorRT, built on the device, with the FP16 ONNX
    TensorRT 11 builds from where the plan wrote one)."""
    from edgekit.converters.tensorrt import fp16_onnx_name

    fp16 = fp16_onnx_name(onnx_path.name)
    extra = [fp16] if BACKENDS.get(backend).built_on_device and (writer.dir / fp16).is_file() else []
    return writer.artifact(onnx_path.name, backend, precision, extra=extra)


def with_host_io(writer: BundleWriter, manifest: Manifest, say: Log) -> Manifest:
    """The onnxruntime artifact with its host interface (``edgekit.converters.host_io``), where it
    has its own ONNX (a TensorRT artifact builds from the same file, with the float interface)."""
    from edgekit.converters.host_io import applies, write_host_io

    arts = [a for a in manifest.artifacts if BACKENDS.get(a.backend).host_io]
    shares_onnx = any(BACKENDS.get(a.backend).built_on_device for a in manifest.artifacts)
    if not arts or shares_onnx or not applies(manifest):
        return manifest
    art = arts[0]
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
