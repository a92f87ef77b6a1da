"""mAP parity with Ultralytics' own ``val`` (dev-only): same weights, same images, both heads.

    .venv-fixtures/bin/python benchmarks/peer_val.py [--weights PT] [--images 300] [--imgsz 320]

(``benchmarks/peer.py --val-parity N`` prints the same table after its speed table.) Needs the real
``ultralytics`` (``.venv-fixtures``; torchvision ops from the CPU shim, as ``benchmarks/peer.py``).
On a generated shapes set the weights never saw (seed 2026), it prints:

- Ultralytics' ``YOLO(weights).val(...)``: its own decoding (for YOLOv10/YOLO26 in 8.4: the
  one-to-many head + multi-label NMS at IoU 0.7, conf 0.001, max_det 300) and its own evaluator,
  with its default rectangular batches (``rect=True``: each image's long side scaled to ``imgsz``,
  then padded into its batch's shape, ``imgsz`` + half a stride rounded up to the stride: 352 for
  square images at 320) and with square ``imgsz`` inputs (``rect=False``);
- edgekit: bundles converted with ``--head one2many`` (and the default ``--head one2one``), scored
  by ``edgekit val --protocol ultralytics`` (and ``coco``): at the square ``imgsz`` input, the
  counterpart of ``rect=False``, and at ``yolo val``'s rectangular shape with ``--imgsz``, the
  counterpart of ``rect=True``.

What is left between each pair is the evaluators' difference (Ultralytics' ``ap_per_class`` vs COCO
matching in faster-coco-eval): the Done-when bound is 0.2 points.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data" / "fixtures" / "yolo26-shapes.pt"
sys.path.insert(0, str(ROOT / "benchmarks"))

Row = Tuple[str, float]  # (system, mAP50-95 in points)


def ultralytics_val(weights: Path, data_yaml: Path, imgsz: int, rect: bool, work: Path) -> float:
    """mAP50-95 by Ultralytics' own validator (its decoding and its evaluator)."""
    from ultralytics import YOLO

    theirs = work / "ultralytics-data.yaml"  # its reader wants a train key, even to validate
    theirs.write_text(data_yaml.read_text() + "train: images/val\n")
    metrics = YOLO(str(weights)).val(
        data=str(theirs),
        imgsz=imgsz,
        batch=16,
        conf=0.001,
        iou=0.7,
        max_det=300,
        rect=rect,
        plots=False,
        verbose=False,
        device="cpu",
        workers=0,
        project=str(work / "runs"),
        name=f"val-rect{int(rect)}",
    )
    return 100 * float(metrics.box.map)


def rect_shape(data_yaml: Path, imgsz: int) -> Tuple[int, int]:
    """The (height, width) most of the set's images get in ``yolo val``'s rectangular batches."""
    from edgekit.eval.validate import load_labelled_set, yolo_val_inputs

    return yolo_val_inputs(load_labelled_set(data_yaml)[0], imgsz)[1]


def edgekit_vals(weights: Path, data_yaml: Path, imgsz: int, work: Path) -> List[Row]:
    """edgekit bundles of both heads of a dual-head model (the one head of others), onnxruntime,
    scored by ``validate`` as ``edgekit val`` does; the last row is the rectangular-shape bundle."""
    from edgekit import convert
    from edgekit.eval.validate import validate
    from edgekit.models.loader import load_checkpoint

    def bundle(head: Optional[str], size: Tuple[int, int]) -> Path:
        return convert(
            weights,
            target="cpu",
            backend="onnxruntime",
            precision="fp32",
            imgsz=size,  # (height, width)
            output=work / f"{head or 'model'}-{size[1]}x{size[0]}.edgekit",
            measure=False,
            **({"head": head} if head else {}),
        )

    def score(path: Path, protocol: str, fit: Optional[int] = None) -> float:
        return 100 * float(validate(path, data_yaml, protocol=protocol, threads=2, imgsz=fit)[0].map50_95)

    dual = load_checkpoint(weights).info.structures.one_to_many_head
    heads: Tuple[Optional[str], ...] = ("one2many", "one2one") if dual else (None,)
    rect = rect_shape(data_yaml, imgsz)
    rows: List[Row] = []
    for head in heads:
        square = bundle(head, (imgsz, imgsz))
        for protocol in ("ultralytics", "coco"):
            name = f"edgekit {f'--head {head} ' if head else ''}{imgsz}x{imgsz}, val --protocol {protocol}"
            rows.append((name, score(square, protocol)))
    name = f"edgekit {'--head one2many ' if dual else ''}{rect[1]}x{rect[0]}"
    rows.append(
        (
            f"{name}, val --protocol ultralytics --imgsz {imgsz}",
            score(bundle(heads[0], rect), "ultralytics", imgsz),
        )
    )
    return rows


def parity(weights: Path, data_yaml: Path, imgsz: int, work: Path) -> List[Tuple[str, str, float, float]]:
    """Print both sides' mAP50-95 and return (ultralytics system, edgekit system, theirs, ours) pairs:
    ``rect=False`` against the square bundle, ``rect=True`` against the rectangular-shape bundle."""
    theirs = {rect: ultralytics_val(weights, data_yaml, imgsz, rect, work) for rect in (True, False)}
    ours = edgekit_vals(weights, data_yaml, imgsz, work)
    print(f"\nmAP parity: weights {weights.name}, {data_yaml.parent.name}, imgsz {imgsz}")
    print(f"{'system':<78}{'mAP50-95':>10}")
    for rect, value in theirs.items():
        print(f"{f'ultralytics val (its head + NMS, its evaluator), rect={rect}':<78}{value:>10.2f}")
    for name, value in ours:
        print(f"{name:<78}{value:>10.2f}")
    square, rectangular = ours[0], ours[-1]
    pairs = [("rect=False", *square, theirs[False]), ("rect=True", *rectangular, theirs[True])]
    for key, name, value, their in pairs:
        diff = value - their
        print(
            f"  {name} - ultralytics val {key}: {diff:+.2f} points "
            f"({'within' if abs(diff) <= 0.2 else 'OUTSIDE'} 0.2)"
        )
    return [(f"ultralytics val {key}", name, their, value) for key, name, value, their in pairs]


def val_set(work: Path, images: int, imgsz: int) -> Path:
    """A generated shapes val set the fixtures never saw (seed 2026): its data.yaml."""
    from edgekit.testing import generate

    return generate(work / "shapes-val", 0, images, 0, seed=2026, imgsz=imgsz).root / "data.yaml"


def main(argv: Optional[List[str]] = None) -> int:
    from peer import import_ultralytics

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=FIXTURE)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--imgsz", type=int, default=320)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="edgekit-peer-val-"))
    import_ultralytics(work / "yolo-config")
    parity(args.weights, val_set(work, args.images, args.imgsz), args.imgsz, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
