"""``edgekit predict``: run a bundle on an image, a folder or a glob."""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import List, Optional

import click

from edgekit.decoding.images import IMAGE_SUFFIXES
from edgekit.errors import InputFileError


def expand_source(source: str) -> List[Path]:
    """An image file, a folder (recursive) or a glob -> sorted image paths."""
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    elif path.is_file():
        files = [path]
    else:
        files = sorted(
            Path(p) for p in glob.glob(source, recursive=True) if Path(p).suffix.lower() in IMAGE_SUFFIXES
        )
        if not files and not any(c in source for c in "*?["):
            raise InputFileError(source, "no such image, folder or glob")
    if not files:
        raise InputFileError(source, "no images found")
    return files


@click.command("predict")
@click.argument("bundle", type=click.Path())
@click.argument("source")
@click.option("--conf", type=float, help="Confidence threshold (default: the bundle's).")
@click.option("--iou", type=float, help="NMS IoU threshold (default: the bundle's).")
@click.option("--max-det", type=int, help="Detections per image at most.")
@click.option("--classes", help="Comma-separated class names or ids to keep.")
@click.option("--backend", help="Which of the bundle's models to run.")
@click.option("--threads", type=int, help="Inference threads.")
@click.option("--save", type=click.Path(path_type=Path), help="Write annotated images into this folder.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per image.")
def predict(
    bundle: str,
    source: str,
    conf: Optional[float],
    iou: Optional[float],
    max_det: Optional[int],
    classes: Optional[str],
    backend: Optional[str],
    threads: Optional[int],
    save: Optional[Path],
    as_json: bool,
) -> None:
    """Detect objects with BUNDLE in SOURCE (image, folder or glob)."""
    from edgekit.decoding.annotate import annotate
    from edgekit.decoding.images import load_image
    from edgekit.detector import Detector

    wanted = None
    if classes:
        wanted = [int(c) if c.strip().isdigit() else c.strip() for c in classes.split(",")]
    files = expand_source(source)
    det = Detector(
        bundle, backend=backend, threads=threads, conf=conf, iou=iou, max_det=max_det, classes=wanted
    )
    if save:
        save.mkdir(parents=True, exist_ok=True)
    for path in files:
        image = load_image(path)
        result = det(image)
        t = det.timings
        if as_json:
            click.echo(json.dumps({"image": str(path), "detections": result.to_dict(), "ms": t}))
        else:
            counts = {}
            for name in result.names:
                counts[name] = counts.get(name, 0) + 1
            summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing"
            ms = f"{t['preprocess']:.1f}+{t['inference']:.1f}+{t['decode']:.1f} ms"
            click.echo(f"{path}: {summary} ({ms} pre+infer+decode)")
        if save:
            annotate(image, result, save / (path.stem + ".jpg"))
    det.close()
