"""``edgekit triton``: a Triton Inference Server model repository from a bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from edgekit.bundle.triton import KINDS, servable


@click.command("triton")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", "repository", type=click.Path(path_type=Path), required=True, help="Repository."
)
@click.option("--name", help="Model name in the repository (default: the bundle's name).")
@click.option(
    "--backend",
    type=click.Choice([b.name for b in servable()]),
    help="Which of the bundle's models to serve (default: TensorRT's ONNX, then onnxruntime, then OpenVINO).",
)
@click.option("--engine", type=click.Path(path_type=Path), help="A built TensorRT engine to serve instead.")
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    default="auto",
    show_default=True,
    help="Instance kind; auto: GPU for a TensorRT target or engine, CPU otherwise.",
)
def triton(
    bundle: Path,
    repository: Path,
    name: Optional[str],
    backend: Optional[str],
    engine: Optional[Path],
    kind: str,
) -> None:
    """Write REPOSITORY/NAME/{config.pbtxt, 1/model.*} for BUNDLE."""
    from edgekit.bundle.triton import write_repository

    dest, served = write_repository(bundle, repository, name, engine, backend, kind)
    click.echo(f"wrote {dest} ({served.describe()})")
