"""``make demo``: convert the bundled detector, run it on generated images, report honestly.

    .venv/bin/python tools/demo.py CHECKPOINT [--target cpu] [--out runs/demo] [--images 40]

Converts CHECKPOINT with ``edgekit.convert`` (the engine of ``edgekit convert``), generates
held-out images with ``edgekit.testing`` (a seed the fixtures never trained on), runs the
bundle with ``edgekit.Detector``, evaluates with ``edgekit.eval`` and prints one table
(backend, precision, mAP50-95, mAP50, recall at IoU 0.5, latency per stage), then writes an
annotated image.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Dict, List, NamedTuple

from edgekit import convert
from edgekit.decoding.annotate import annotate
from edgekit.decoding.images import load_image
from edgekit.detector import Detector
from edgekit.eval import EvalResult, evaluate
from edgekit.testing import generate

DEMO_SEED = 2026  # not the fixtures' training seed (0)


class Row(NamedTuple):
    """One model of a bundle: mAP over every detection, recall of those above conf, latencies."""

    backend: str
    precision: str
    metrics: EvalResult  # every detection down to conf 0.001 (COCO protocol)
    at_conf: EvalResult  # the detections an app gets at the bundle's default conf
    conf: float
    latency_ms: Dict[str, float]  # median per stage


def run_rows(bundle: Path, folder: Path, gt: dict, annotated: Path) -> List[Row]:
    """One row per backend of ``bundle``: precision, mAP, recall at IoU 0.5, median stage latencies."""
    rows = []
    for art in Detector(bundle).manifest.artifacts:
        det = Detector(bundle, backend=art.backend, threads=2)
        eval_det = Detector(bundle, backend=art.backend, threads=2, conf=0.001, iou=0.6)
        preds, stages = [], {"preprocess": [], "inference": [], "decode": []}
        for img in gt["images"]:
            image = load_image(folder / img["file_name"])
            result = det(image)
            for key in stages:
                stages[key].append(det.timings[key])
            low = eval_det(image)
            preds.append(
                {
                    "image_id": img["id"],
                    "boxes": low.xyxy,
                    "scores": low.confidence,
                    "class_ids": low.class_id,
                }
            )
            if not annotated.exists():
                annotate(image, result, annotated)
        metrics = evaluate(gt, preds)
        # the detections an app gets (conf threshold applied): recall at IoU 0.5 from edgekit.eval
        kept = [
            dict(p, boxes=p["boxes"][keep], scores=p["scores"][keep], class_ids=p["class_ids"][keep])
            for p in preds
            for keep in [p["scores"] >= det.options.conf]
        ]
        at_conf = evaluate(gt, kept)
        med = {k: statistics.median(v) for k, v in stages.items()}
        rows.append(Row(art.backend, art.precision, metrics, at_conf, det.options.conf, med))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--target", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--calib-images", type=int, default=200)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--no-int8", action="store_true", help="FP32 only")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    # calibration images + 32 more for the calibration-disjoint INT8 check
    data = generate(
        args.out / "images", args.calib_images + 32, 0, args.images, seed=DEMO_SEED, imgsz=320, overwrite=True
    )
    bundles = [
        convert(
            args.checkpoint,
            target=args.target,
            imgsz=args.imgsz,
            output=args.out / "float.edgekit",
            log=print,
        )
    ]
    if not args.no_int8:  # calibrated on the generated train split, scored on its test split
        print()
        bundles.append(
            convert(
                args.checkpoint,
                target=args.target,
                imgsz=args.imgsz,
                precision="int8",
                calib=data.root / "images" / "train",
                calib_images=args.calib_images,
                output=args.out / "int8.edgekit",
                log=print,
            )
        )
    gt = json.loads((data.root / "annotations" / "test.json").read_text())
    annotated = args.out / "annotated.jpg"
    annotated.unlink(missing_ok=True)
    rows = [
        row
        for bundle in reversed(bundles)
        for row in run_rows(bundle, data.root / "images" / "test", gt, annotated)
    ]
    print()
    print(
        f"{'backend':<12}{'precision':<10}{'mAP50-95':>9}{'mAP50':>7}{'recall@.5':>10}"
        f"{'pre ms':>8}{'infer ms':>9}{'decode ms':>10}"
    )
    for row in rows:
        med = row.latency_ms
        print(
            f"{row.backend:<12}{row.precision:<10}{row.metrics.map50_95:>9.3f}{row.metrics.map50:>7.3f}"
            f"{row.at_conf.recall50:>10.3f}"
            f"{med['preprocess']:>8.2f}{med['inference']:>9.2f}{med['decode']:>10.2f}"
        )
    lowest = min(rows, key=lambda r: r.at_conf.recall50)
    worst = lowest.at_conf
    print(
        f"\n{len(gt['images'])} generated images (seed {DEMO_SEED}), {worst.n_gt} objects; "
        f"lowest recall at IoU 0.5 and conf {lowest.conf:g}: {worst.recall50:.3f} "
        f"(target >= 0.9: {'met' if worst.recall50 >= 0.9 else 'NOT met'})"
    )
    sizes = {"small": worst.recall50_small, "medium": worst.recall50_medium, "large": worst.recall50_large}
    print(
        f"its recall by object size ({lowest.backend} {lowest.precision}; "
        "COCO areas < 32², < 96², larger): "
        + ", ".join(f"{k} {'-' if v is None else f'{v:.3f}'}" for k, v in sizes.items())
    )
    fp32 = Detector(bundles[0]).manifest
    for backend, fig in fp32.verification.get("backends", {}).items():
        det = fig["detections"]
        worst = max((row.get("worst") or 0.0 for row in fig["outputs"]), default=0.0)
        print(
            f"FP32 {backend} verified against PyTorch at conversion: worst output at {worst:.2g}x its "
            f"{fig['bounds']} bound, {det['found']}/{det['required']} {det['mode']} found "
            f"(max {det['max_box_px']:.2g} px)"
        )
    print(f"annotated image ({rows[0].backend} {rows[0].precision}): {annotated}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
