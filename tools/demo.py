"""``make demo``: convert the bundled detector, run it on generated images, report honestly.

    .venv/bin/python tools/demo.py CHECKPOINT [--target cpu] [--out runs/demo] [--images 40]

Converts CHECKPOINT with ``edgekit.convert`` (the engine of ``edgekit convert``), generates
held-out images with ``edgekit.datasets`` (a seed the fixtures never trained on), runs the
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

import numpy as np

from edgekit import convert
from edgekit.datasets import generate
from edgekit.decoding.annotate import annotate
from edgekit.decoding.images import load_image
from edgekit.detector import Detector
from edgekit.eval import evaluate
from edgekit.verify import TOLERANCE

DEMO_SEED = 2026  # not the fixtures' training seed (0)


def recall_at_50(gt: dict, predictions: list) -> float:
    """Share of ground-truth boxes that some same-class detection overlaps with IoU >= 0.5."""
    from edgekit.converters.verification import box_iou

    by_image: dict = {}
    for ann in gt["annotations"]:
        x, y, w, h = ann["bbox"]
        by_image.setdefault(ann["image_id"], []).append(([x, y, x + w, y + h], ann["category_id"]))
    cats = sorted(c["id"] for c in gt["categories"])
    found = total = 0
    for pred in predictions:
        truth = by_image.get(pred["image_id"], [])
        total += len(truth)
        if not truth or not len(pred["boxes"]):
            continue
        boxes = np.array([t[0] for t in truth], np.float32)
        classes = np.array([cats.index(t[1]) for t in truth])
        iou = box_iou(boxes, np.asarray(pred["boxes"], np.float32))
        iou[classes[:, None] != np.asarray(pred["class_ids"])[None, :]] = 0
        found += int((iou.max(1) >= 0.5).sum())
    return found / max(total, 1)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--target", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--imgsz", type=int, default=320)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    bundle = convert(
        args.checkpoint, target=args.target, imgsz=args.imgsz, output=args.out / "demo.edgekit", log=print
    )
    data = generate(args.out / "images", 0, 0, args.images, seed=DEMO_SEED, imgsz=320, overwrite=True)
    gt_path = data.root / "annotations" / "test.json"
    gt = json.loads(gt_path.read_text())
    det = Detector(bundle, threads=2)
    eval_det = Detector(bundle, threads=2, conf=0.001, iou=0.6)
    preds, stages = [], {"preprocess": [], "inference": [], "decode": []}
    first = None
    for img in gt["images"]:
        image = load_image(data.root / "images" / "test" / img["file_name"])
        result = det(image)
        for key in stages:
            stages[key].append(det.timings[key])
        low = eval_det(image)
        preds.append(
            {"image_id": img["id"], "boxes": low.xyxy, "scores": low.confidence, "class_ids": low.class_id}
        )
        if first is None:
            first = annotate(image, result, args.out / "annotated.jpg")
    metrics = evaluate(gt, preds)
    at_conf = [
        {
            "image_id": p["image_id"],
            **dict(zip(("boxes", "class_ids"), (p["boxes"][keep], p["class_ids"][keep]))),
        }
        for p in preds
        for keep in [p["scores"] >= det.options.conf]
    ]
    recall = recall_at_50(gt, at_conf)
    m = det.manifest
    med = {k: statistics.median(v) for k, v in stages.items()}
    verified = max(m.verification.get("raw_max_rel_error", {"-": float("nan")}).values())
    print()
    print(
        f"{'backend':<12}{'precision':<10}{'mAP50-95':>9}{'mAP50':>7}{'recall@.5':>10}"
        f"{'pre ms':>8}{'infer ms':>9}{'decode ms':>10}"
    )
    art = m.artifacts[0]
    print(
        f"{art.backend:<12}{art.precision:<10}{metrics.map50_95:>9.3f}{metrics.map50:>7.3f}{recall:>10.3f}"
        f"{med['preprocess']:>8.2f}{med['inference']:>9.2f}{med['decode']:>10.2f}"
    )
    print(
        f"\n{len(gt['images'])} generated images (seed {DEMO_SEED}), {metrics.n_gt} objects; "
        f"recall at IoU 0.5 and conf {det.options.conf:g}: {recall:.3f} (target >= 0.9)"
    )
    print(f"bundle verified against PyTorch at conversion: max rel error {verified:.1e} (tol {TOLERANCE:g})")
    print(f"annotated image: {first}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
