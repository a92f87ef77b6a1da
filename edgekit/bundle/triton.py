"""Triton Inference Server model repository from a bundle (``config.pbtxt`` + the model file).

For users serving many streams from one box. ONNX models are served by Triton's onnxruntime
backend (``platform: "onnxruntime_onnx"``), OpenVINO IR by its OpenVINO backend
(``backend: "openvino"``, CPU only), TensorRT engines as ``tensorrt_plan``. The instance kind
follows the bundle's target: GPU for a TensorRT target or engine, CPU otherwise. Pre- and
post-processing stay in the client (``edgekit.Detector``'s preprocessor and decoder read the same
manifest, which is copied beside the config).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

from edgekit.backends import BACKENDS, Backend, Serving, ordered
from edgekit.bundle.io import read_bundle, user_umask
from edgekit.bundle.manifest import Artifact, Manifest
from edgekit.errors import InputFileError

TRITON_TYPES = {
    "float32": "TYPE_FP32",
    "float16": "TYPE_FP16",
    "int8": "TYPE_INT8",
    "uint8": "TYPE_UINT8",
    "int32": "TYPE_INT32",
    "int64": "TYPE_INT64",
}
KINDS = ("auto", "cpu", "gpu")


def servable() -> Tuple[Backend, ...]:
    """Backends whose artifacts Triton serves (``Backend.serving``), in the order one is picked."""
    found = [b for b in ordered() if b.serving is not None]
    return tuple(sorted(found, key=lambda b: b.serving.order if b.serving else 0))


@dataclass(frozen=True)
class Served:
    """What Triton loads: the config's platform/backend line, the files of its version folder
    (source in the bundle -> name Triton expects) and the instance kind."""

    engine_line: str
    files: Tuple[Tuple[Path, str], ...]
    kind: str  # KIND_CPU / KIND_GPU

    def describe(self) -> str:
        return f"{self.engine_line}, {self.kind}"


def _dims(shape: Sequence[Optional[int]], batched: bool) -> str:
    dims = list(shape[1:]) if batched else list(shape)
    return "[ " + ", ".join(str(-1 if d is None else int(d)) for d in dims) + " ]"


def _tensor(name: str, dtype: str, shape: Sequence[Optional[int]], batched: bool) -> List[str]:
    return [
        "  {",
        f'    name: "{name}"',
        f"    data_type: {TRITON_TYPES[dtype]}",
        f"    dims: {_dims(shape, batched)}",
        "  }",
    ]


def config_text(name: str, manifest: Manifest, engine_line: str, kind: str = "KIND_GPU") -> str:
    """The ``config.pbtxt`` of ``manifest``'s model (dynamic batch: ``max_batch_size`` 8)."""
    inp = manifest.input
    batched = inp.batch is None
    shape: List[Optional[int]] = (
        [inp.batch, 3, inp.height, inp.width]
        if inp.layout == "NCHW"
        else [inp.batch, inp.height, inp.width, 3]
    )
    lines = [f'name: "{name}"', engine_line, f"max_batch_size: {8 if batched else 0}", "input ["]
    lines += _tensor(inp.name, inp.dtype, shape, batched)
    lines += ["]", "output ["]
    for i, out in enumerate(manifest.outputs):
        block = _tensor(out.name, out.dtype, out.shape, batched)
        if i < len(manifest.outputs) - 1:
            block[-1] += ","
        lines += block
    lines += ["]", f"instance_group [ {{ kind: {kind}, count: 1 }} ]", ""]
    return "\n".join(lines)


def _serving(backend: str) -> Serving:
    serving = BACKENDS.get(backend).serving
    if serving is None:
        raise InputFileError(Path("--backend"), f"Triton does not serve {backend} models")
    return serving


def _pick(manifest: Manifest, backend: Optional[str], root: Path) -> Artifact:
    wanted = [backend] if backend else [b.name for b in servable()]
    for name in wanted:
        suffix = _serving(name).files[0][0]
        for art in manifest.artifacts:
            if art.backend == name and art.path.endswith(suffix):
                return art
    have = ", ".join(f"{a.backend} ({a.path})" for a in manifest.artifacts)
    what = f"{backend} model" if backend else "model"
    raise InputFileError(
        root, f"the bundle has no {what} Triton can serve (it has: {have}); pass a built --engine"
    )


def _kind(manifest: Manifest, backend: str, kind: str) -> str:
    serving = _serving(backend)
    if serving.device == "cpu":
        if kind == "gpu":
            title = BACKENDS.get(backend).title
            raise InputFileError(Path("--kind"), f"Triton's {title} backend runs on the CPU only")
        return "KIND_CPU"
    if kind != "auto":
        return f"KIND_{kind.upper()}"
    targets = manifest.target.backends if manifest.target is not None else ()
    on_gpu = serving.device == "gpu" or any(_device(name) == "gpu" for name in targets)
    return "KIND_GPU" if on_gpu else "KIND_CPU"


def _device(backend: str) -> str:
    serving = BACKENDS.get(backend).serving
    return serving.device if serving is not None else "any"


def _engine_backend() -> str:
    return next(b.name for b in servable() if b.serving and b.serving.engine_line)


def served_model(
    manifest: Manifest, root: Path, backend: Optional[str], engine: Optional[Path], kind: str
) -> Tuple[Served, Manifest]:
    """What to serve from the bundle at ``root`` and the manifest as that model sees it."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if engine is not None:
        if not Path(engine).is_file():
            raise InputFileError(Path(engine), "no such engine file")
        source = _pick(manifest, None, root)  # the engine was built from its ONNX: the same I/O
        name = _engine_backend()
        plan_file = ((Path(engine), "model.plan"),)
        served = Served(_serving(name).engine_line, plan_file, _kind(manifest, name, kind))
        return served, manifest.for_artifact(source)
    art = _pick(manifest, backend, root)
    serving = _serving(art.backend)
    paths = [art.path, *(f.path for f in art.files)]
    files = tuple(
        (root / path, name)
        for suffix, name in serving.files
        for path in [next((p for p in paths if p.endswith(suffix)), None)]
        if path is not None
    )
    served = Served(serving.line, files, _kind(manifest, art.backend, kind))
    return served, manifest.for_artifact(art)  # its own input dtype and outputs (uint8, best scores)


def export_triton(
    bundle: Union[str, Path],
    repository: Union[str, Path],
    name: Optional[str] = None,
    engine: Optional[Path] = None,
    backend: Optional[str] = None,
    kind: str = "auto",
) -> Path:
    """Write ``repository/<name>/`` (``config.pbtxt``, ``1/<model>``, ``manifest.json``); returns it.

    ``backend`` picks the bundle's model (default: its TensorRT ONNX, then onnxruntime, then
    OpenVINO); ``engine`` (a built ``.engine``) exports a ``tensorrt_plan`` instead. ``kind``
    overrides the instance kind (``auto``: the target's). Written to a temporary folder and
    renamed into place.
    """
    return write_repository(bundle, repository, name, engine, backend, kind)[0]


def write_repository(
    bundle: Union[str, Path],
    repository: Union[str, Path],
    name: Optional[str] = None,
    engine: Optional[Path] = None,
    backend: Optional[str] = None,
    kind: str = "auto",
) -> Tuple[Path, Served]:
    """``export_triton``, also returning what is served there."""
    b = read_bundle(bundle)
    root = Path(b.root)
    name = name or root.name.split(".")[0]
    served, manifest = served_model(b.manifest, root, backend, engine, kind)
    dest = Path(repository) / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=dest.parent))
    try:
        (tmp / "1").mkdir()
        for source, target in served.files:
            shutil.copyfile(source, tmp / "1" / target)
        shutil.copyfile(root / "manifest.json", tmp / "manifest.json")
        (tmp / "config.pbtxt").write_text(config_text(name, manifest, served.engine_line, served.kind))
        os.chmod(tmp, 0o777 & ~user_umask())  # mkdtemp made it 0700
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest, served
