"""``edgekit triton``: a Triton Inference Server model repository from a bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click


@click.command("triton")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", "repository", type=click.Path(path_type=Path), required=True, help="Repository."
)
@click.option("--name", help="Model name in the repository (default: the bundle's name).")
@click.option("--engine", type=click.Path(path_type=Path), help="A built TensorRT engine to serve instead.")
def triton(bundle: Path, repository: Path, name: Optional[str], engine: Optional[Path]) -> None:
    """Write REPOSITORY/NAME/{config.pbtxt, 1/model.*} for BUNDLE."""
    from edgekit.bundle.triton import export_triton

    dest = export_triton(bundle, repository, name=name, engine=engine)
    click.echo(f"wrote {dest}")
