"""``edgekit build``: the TensorRT engine of a Jetson bundle, built on this device.

``--verify`` then runs the engine and the bundle's ONNX (the file the engine was built from, in
onnxruntime on the CPU) on the same inputs and compares every output and the decoded detections
through ``edgekit.verify`` with the bounds of the engine's precision (FP16 engine: the FP16
bounds; INT8 engine against its Q/DQ ONNX: the INT8 bounds), as ``edgekit compare`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Optional

import click

from edgekit.bundle.manifest import Artifact

VERIFY_INPUTS = 4  # generated inputs: the bundle carries no images


def tensorrt_artifact(b: Any, bundle: Path) -> Artifact:
    """The bundle's artifact whose engine is built on the device (TensorRT's), or a one-line error."""
    from edgekit.backends import BACKENDS
    from edgekit.errors import BackendError

    arts = [a for a in b.manifest.artifacts if BACKENDS.get(a.backend).built_on_device]
    if not arts:
        raise BackendError(f"{bundle}: the bundle has no TensorRT model (convert it for a Jetson target)")
    return arts[0]


def verify_engine(
    bundle: Path, count: int = VERIFY_INPUTS, say: Callable[[str], Any] = click.echo
) -> Dict[str, Any]:
    """Compare BUNDLE's TensorRT engine with its ONNX run by onnxruntime; raises
    ``VerificationError`` naming the first output (or the detections) out of bounds."""
    from edgekit.bundle import read_bundle
    from edgekit.cli.compare import (
        bundle_source,
        compare_sources,
        detections_line,
        generated_inputs,
        open_source,
        table,
    )
    from edgekit.errors import VerificationError
    from edgekit.verify.detections import describe

    b = read_bundle(bundle)
    art = tensorrt_artifact(b, bundle)
    engine = bundle_source(bundle, art.backend, f"{bundle}:{art.backend}", as_built=True)
    reference = open_source(str(Path(b.root) / art.path), ())
    inputs = generated_inputs(engine.size, count, b.manifest.preprocess.scale)
    rows, _saved, dets = compare_sources(engine, reference, inputs, art.precision, None)
    say(f"engine ({art.precision}) against {art.path} in onnxruntime, {len(inputs)} generated inputs:")
    say(table(rows))
    say(detections_line(dets))
    bad = next((r for r in rows if not r.ok), None)
    if bad is not None:
        raise VerificationError(
            f"{bundle}: the engine's output '{bad.name}' differs from {art.path}: {bad.problem}"
        )
    if dets is not None and not dets["ok"]:
        raise VerificationError(f"{bundle}: the engine's detections differ from {art.path}: {describe(dets)}")
    say(f"engine verified: {len(rows)} outputs within the {art.precision} bounds")
    return {"rows": [r.to_dict() for r in rows], "detections": dets}


@click.command("build")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Rebuild even when an engine for this device exists.")
@click.option(
    "--verify",
    "verify",
    is_flag=True,
    help="Compare the engine's outputs with the bundle's ONNX (onnxruntime) through edgekit.verify.",
)
@click.option(
    "--verify-inputs",
    type=click.IntRange(1, 64),
    default=VERIFY_INPUTS,
    show_default=True,
    help="Generated inputs the --verify comparison runs.",
)
def build(bundle: Path, force: bool, verify: bool, verify_inputs: Optional[int]) -> None:
    """Build (or find) BUNDLE's TensorRT engine for this GPU and TensorRT version."""
    from edgekit.bundle import read_bundle
    from edgekit.runtimes.trt_engine import ensure_engine

    b = read_bundle(bundle)
    art = tensorrt_artifact(b, bundle)
    path = ensure_engine(b.root, b.manifest, art.path, art.sha256, force=force, say=click.echo)
    click.echo(f"engine: {path}")
    if verify:
        verify_engine(bundle, verify_inputs or VERIFY_INPUTS)
