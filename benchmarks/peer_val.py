"""mAP parity with Ultralytics' own ``val`` (dev-only): same weights, same images, both heads.

    .venv-fixtures/bin/python benchmarks/peer_val.py [--weights PT] [--images 300] [--imgsz 320]

Needs the real ``ultralytics`` (``.venv-fixtures``; torchvision ops from the CPU shim, as
``benchmarks/peer.py``). On a generated shapes set the weights never saw (seed 2026), it prints:

- Ultralytics' ``YOLO(weights).val(...)``: its own decoding (for YOLOv10/YOLO26 in 8.4: the
  one-to-many head + multi-label NMS at IoU 0.7, conf 0.001, max_det 300) and its own evaluator,
  with its default rectangular batches (``rect=True``) and with square ``imgsz`` inputs
  (``rect=False``, the input a fixed-size bundle takes);
- edgekit: the bundle converted with ``--head one2many`` and with the default ``--head one2one``,
  scored by ``edgekit val`` with ``--protocol ultralytics`` and ``--protocol coco``.

The figure to compare is Ultralytics' square-input val against edgekit's one2many bundle under the
ultralytics protocol: same head, same decoding, same pixels; what is left is the evaluators'
difference (Ultralytics' ``ap_per_class`` vs COCO matching in faster-coco-eval).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data" / "fixtures" / "yolo26-shapes.pt"
sys.path.insert(0, str(ROOT / "benchmarks"))

from peer import import_ultralytics  # noqa: E402


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
    return float(metrics.box.map)


def edgekit_vals(weights: Path, data_yaml: Path, imgsz: int, work: Path) -> List[Tuple[str, str, float]]:
    """(head, protocol, mAP50-95) of edgekit bundles of both heads, onnxruntime."""
    from edgekit import convert
    from edgekit.eval.validate import validate

    rows = []
    for head in ("one2many", "one2one"):
        bundle = convert(
            weights,
            target="cpu",
            backend="onnxruntime",
            imgsz=imgsz,
            head=head,
            output=work / f"{head}.edgekit",
            measure=False,
        )
        for protocol in ("ultralytics", "coco"):
            result, _facts = validate(bundle, data_yaml, protocol=protocol, threads=2)
            rows.append((head, protocol, float(result.map50_95)))
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=FIXTURE)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--imgsz", type=int, default=320)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="edgekit-peer-val-"))
    import_ultralytics(work / "yolo-config")
    from edgekit.testing import generate

    data_yaml = generate(work / "shapes", 0, args.images, 0, seed=2026, imgsz=args.imgsz).root / "data.yaml"
    theirs: Dict[str, float] = {
        f"rect={rect}": ultralytics_val(args.weights, data_yaml, args.imgsz, rect, work)
        for rect in (True, False)
    }
    ours = edgekit_vals(args.weights, data_yaml, args.imgsz, work)
    print(f"\nweights {args.weights.name}, {args.images} generated images (seed 2026), imgsz {args.imgsz}")
    print(f"{'system':<58}{'mAP50-95':>10}")
    for key, value in theirs.items():
        print(f"{'ultralytics val (one2many + NMS, its evaluator), ' + key:<58}{100 * value:>10.2f}")
    for head, protocol, value in ours:
        print(f"{f'edgekit --head {head}, val --protocol {protocol}':<58}{100 * value:>10.2f}")
    same = next(v for h, p, v in ours if h == "one2many" and p == "ultralytics")
    diff = 100 * (same - theirs["rect=False"])
    print(
        f"\nedgekit one2many (ultralytics protocol) - ultralytics val (square input): {diff:+.2f} points "
        f"({'within' if abs(diff) <= 0.2 else 'OUTSIDE'} 0.2)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
