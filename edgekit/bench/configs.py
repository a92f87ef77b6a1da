"""Benchmark configurations: backend x precision, each bound to a bundle artifact (converting when needed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from edgekit.backends import BACKENDS
from edgekit.bundle import Bundle, read_bundle
from edgekit.devices.host import native_bf16
from edgekit.errors import EdgekitError, InputFileError

CHECKPOINT_SUFFIXES = (".pt", ".pth")
DEFAULT_BACKENDS = ("onnxruntime", "openvino")
DEFAULT_PRECISIONS = ("fp32", "bf16")


@dataclass
class Config:
    """One measured configuration: a bundle's ``backend`` artifact run at ``precision``."""

    backend: str
    precision: str  # what was asked: fp32 / bf16 / fp16
    bundle: Path
    runtime_options: Dict[str, Any] = field(default_factory=dict)
    model: str = ""  # which source it came from, when a run compares several

    @property
    def name(self) -> str:
        return f"{self.backend} {self.precision}"


def is_checkpoint(source: Path) -> bool:
    return source.is_file() and source.suffix.lower() in CHECKPOINT_SUFFIXES


def _artifact_precisions(bundle: Bundle) -> List[Tuple[str, str]]:
    return [(a.backend, a.precision) for a in bundle.manifest.artifacts]


def configs_for_bundle(
    path: Path,
    backends: Optional[Sequence[str]],
    precisions: Optional[Sequence[str]],
    cpu_flags: Sequence[str],
) -> Tuple[List[Config], List[str]]:
    """Configurations that ``path`` (a bundle folder) can run, and notes on those skipped.

    With neither ``backends`` nor ``precisions`` given: every model of the bundle, once, as
    ``Detector`` opens it by default.
    """
    bundle = read_bundle(path)
    have = _artifact_precisions(bundle)
    if backends is None and precisions is None:
        return [Config(b, p, path, {}) for b, p in have], []
    backends = backends if backends is not None else list(dict.fromkeys(b for b, _ in have))
    precisions = precisions if precisions is not None else DEFAULT_PRECISIONS
    configs: List[Config] = []
    notes: List[str] = []
    for backend in backends:
        arts = [p for b, p in have if b == backend]
        if not arts:
            notes.append(f"{backend}: {path.name} has no {backend} model")
            continue
        for precision in precisions:
            config, note = _config(path, backend, precision, arts, cpu_flags)
            configs += [config] if config else []
            notes += [note] if note else []
    return configs, notes


def _config(
    path: Path, backend: str, precision: str, arts: List[str], cpu_flags: Sequence[str]
) -> Tuple[Optional[Config], str]:
    """How ``backend`` times ``precision`` from a bundle whose ``backend`` models hold ``arts``, or
    why it cannot. A runtime that takes a precision hint (``Backend.precision_hints``) runs the FP32
    model (or a bf16 artifact, the same IR) in any of them; its own FP16 model still computes in
    f32 on a CPU (the hint says so, the column shows it); other runtimes run their models as they are."""
    hints = BACKENDS.get(backend).precision_hints
    float_ir = bool({"fp32", "bf16"} & set(arts))
    if precision in hints and float_ir:
        if precision == "bf16" and not native_bf16(cpu_flags):
            return None, f"{backend} bf16: skipped (this CPU has no avx512_bf16 / amx_bf16)"
        return Config(backend, precision, path, {"precision": precision}), ""
    if precision in arts:
        return Config(backend, precision, path, {"precision": hints[0]} if hints else {}), ""
    if not hints:
        return None, f"{backend} {precision}: skipped ({path.name} has {backend} {', '.join(arts)})"
    return None, f"{backend} {precision}: skipped (needs the FP32 model; {path.name} has {', '.join(arts)})"


def prepare(
    source: Union[str, Path],
    workdir: Path,
    target: str = "cpu",
    backends: Optional[Sequence[str]] = None,
    precisions: Optional[Sequence[str]] = None,
    imgsz: Optional[Tuple[int, int]] = None,
    cpu_flags: Sequence[str] = (),
    log: Any = None,
) -> Tuple[List[Config], List[str]]:
    """Bundles for ``source``: a bundle folder is used as is; a checkpoint is converted into ``workdir``.

    ``backends``/``precisions`` None: a bundle's own models; for a checkpoint the defaults
    (onnxruntime and openvino, fp32 and bf16).

    One FP32 conversion serves fp32 (both backends) and bf16 (OpenVINO's runtime hint on the FP32
    IR); fp16 needs an FP16 IR, converted separately where the target's plan allows it.
    """
    source = Path(source)
    if not source.exists():
        raise InputFileError(source, "no such file or bundle folder")
    if source.is_dir():
        return configs_for_bundle(source, backends, precisions, cpu_flags)
    if not is_checkpoint(source):
        raise InputFileError(source, "expected a bundle folder or a .pt/.pth checkpoint")
    backends = backends if backends is not None else DEFAULT_BACKENDS
    precisions = precisions if precisions is not None else DEFAULT_PRECISIONS
    workdir.mkdir(parents=True, exist_ok=True)
    configs: List[Config] = []
    notes: List[str] = []
    wanted = list(backends)
    base = [p for p in precisions if p != "fp16"]
    jobs = []  # (precision of the artifact, backend to build or None for the plan's, configs' precisions)
    if base:
        jobs.append(("fp32", wanted[0] if len(wanted) == 1 else None, wanted, base))
    fp16 = [b for b in wanted if "fp16" in BACKENDS.get(b).precisions] if "fp16" in precisions else []
    jobs += [("fp16", name, [name], ["fp16"]) for name in fp16]
    for artifact_precision, backend, job_backends, job_precisions in jobs:
        size = f"-{imgsz[1]}x{imgsz[0]}" if imgsz else ""
        which = f"-{backend}" if artifact_precision == "fp16" and len(fp16) > 1 else ""
        dest = workdir / f"{source.stem}-{target}{size}-{artifact_precision}{which}.edgekit"
        try:
            bundle = _convert(source, dest, target, imgsz, artifact_precision, backend, notes, log)
        except EdgekitError as exc:
            if artifact_precision == "fp32":
                raise
            notes.append(f"{backend} fp16: skipped ({exc})")
            continue
        found, skipped = configs_for_bundle(bundle, job_backends, job_precisions, cpu_flags)
        configs += found
        notes += skipped
    if "fp16" in precisions:
        notes += [f"{b} fp16: skipped (its artifact is always FP32)" for b in wanted if b not in fp16]
    return configs, notes


def _convert(
    source: Path,
    dest: Path,
    target: str,
    imgsz: Optional[Tuple[int, int]],
    precision: str,
    backend: Optional[str],
    notes: List[str],
    log: Any,
) -> Path:
    """Convert ``source`` into ``dest`` with ``edgekit.convert``, or reuse a bundle already there."""
    if (dest / "manifest.json").is_file():
        notes.append(f"reused {dest} (delete it to convert again)")
        return dest
    from edgekit.converters.engine import convert

    return convert(
        source,
        target=target,
        imgsz=imgsz,
        precision=precision,
        backend=backend,
        output=dest,
        log=log,
        measure=False,
    )
