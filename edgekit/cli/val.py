"""``edgekit val``: a bundle's mAP on a labelled set (YOLO data.yaml or COCO json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import click

from edgekit.vocab import EVAL_PROTOCOLS


@click.command("val")
@click.argument("bundle", type=click.Path())
@click.argument("dataset", required=False, type=click.Path(path_type=Path))
@click.option(
    "--data", type=click.Path(path_type=Path), help="YOLO data.yaml or COCO json (or give it after BUNDLE)."
)
@click.option("--split", default="val", show_default=True, help="Split of a data.yaml (val, test, ...).")
@click.option("--images", type=click.Path(path_type=Path), help="Image folder of a COCO json.")
@click.option("--backend", help="Which of the bundle's models to run.")
@click.option("--threads", type=int, help="Inference threads.")
@click.option("--save-json", type=click.Path(path_type=Path), help="Write the COCO results list here.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option(
    "--protocol",
    type=click.Choice(EVAL_PROTOCOLS),
    default="coco",
    show_default=True,
    help="Decoding for scoring: coco (best class per anchor, NMS IoU 0.6, OBB by polygon IoU) or "
    "ultralytics (as yolo val: multi-label, NMS IoU 0.7, OBB matched by probiou).",
)
@click.option(
    "--imgsz",
    type=click.IntRange(min=1),
    help="Scale each image's long side to this, then pad it into the model's input without scaling "
    "(as yolo val imgsz=N's rectangular batches, for a bundle converted at their shape). "
    "Default: images scaled to fill the input.",
)
def val(
    bundle: str,
    dataset: Optional[Path],
    data: Optional[Path],
    split: str,
    images: Optional[Path],
    backend: Optional[str],
    threads: Optional[int],
    save_json: Optional[Path],
    as_json: bool,
    protocol: str,
    imgsz: Optional[int],
) -> None:
    """Evaluate BUNDLE on DATASET (or --data): mAP50-95, mAP50, AP small/medium/large, per-class AP."""
    from edgekit.eval.validate import validate

    if dataset and data and dataset != data:
        raise click.UsageError(f"two datasets given: {dataset} and --data {data}")
    data = dataset or data
    if data is None:
        raise click.UsageError("no dataset: edgekit val BUNDLE data.yaml (or a COCO json with --images)")

    try:
        result, facts = validate(bundle, data, split, images, backend, threads, save_json, protocol, imgsz)
    except ValueError as exc:  # an option that does not apply to this bundle
        raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps({**facts, **result.to_dict()}, indent=2))
        return
    click.echo(result.format_table())
    click.echo(
        f"\n{facts['images']} images, {facts['backend']}, {facts['ms_per_image']:.1f} ms/image "
        f"({facts['protocol']} protocol: conf {facts['conf']}, iou {facts['iou']}"
        f"{', multi-label' if facts['multi_label'] else ''}"
        f"{', OBB matched by ' + facts['obb_overlap'] if 'obb_overlap' in facts else ''})"
    )
    if "input" in facts:
        click.echo(facts["input"])
