"""``edgekit build``: the TensorRT engine of a Jetson bundle, built on this device."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("build")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Rebuild even when an engine for this device exists.")
def build(bundle: Path, force: bool) -> None:
    """Build (or find) BUNDLE's TensorRT engine for this GPU and TensorRT version."""
    from edgekit.bundle import read_bundle
    from edgekit.errors import BackendError
    from edgekit.runtimes.trt_engine import ensure_engine

    b = read_bundle(bundle)
    arts = [a for a in b.manifest.artifacts if a.backend == "tensorrt"]
    if not arts:
        raise BackendError(f"{bundle}: the bundle has no TensorRT model (convert it for a Jetson target)")
    path = ensure_engine(b.root, b.manifest, arts[0].path, arts[0].sha256, force=force, say=click.echo)
    click.echo(f"engine: {path}")
