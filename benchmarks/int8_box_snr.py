"""Box SNR and cosine of valid INT8 models against their FP32 source: what an INT8 box bound is
chosen from (issue 27), beside the one fault the cosine bound misses (one weight scale x10).

    python benchmarks/int8_box_snr.py [--fixtures tests/data/fixtures] [--flavours cpu,tflite,jetson]
                                      [--calib-images 100] [--imgsz 320] [--work DIR]

Every trained fixture is converted INT8 per flavour with edgekit's default recipe but one
quantization round (``int8_fallback=False``, ``allow_accuracy_loss=True``): the first round is
what a bound must not fail. Calibration: generated shapes images (train split, seed 11); the
agreement check runs on calibration-disjoint images, as in ``edgekit convert``. Prints one row per
(fixture, backend): box cosine and SNR against FP32 on the check images (the worst image), and
the detection match rate.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[1]
FLAVOURS = {
    "cpu": {"target": "cpu"},
    "tflite": {"target": "rpi5", "backend": "tflite"},
    "jetson": {"target": "jetson"},
}


def convert_int8(
    checkpoint: Path, out: Path, calib: Path, images: int, imgsz: int, extra: Dict[str, Any]
) -> Path:
    from edgekit.converters.engine import convert

    return convert(
        checkpoint,
        output=out,
        imgsz=imgsz,
        precision="int8",
        calib=calib,
        calib_images=images,
        int8_fallback=False,
        allow_accuracy_loss=True,
        measure=False,
        **extra,
    )


def rows_of(bundle: Path, fixture: str, flavour: str) -> List[List[str]]:
    report = json.loads((bundle / "manifest.json").read_text())["verification"]["int8"]
    rows = []
    for backend, figures in report["backends"].items():
        agreement = figures["agreement"]
        boxes = [o for o in agreement["outputs"].values() if o["role"] == "boxes"]
        det = agreement["detections"]
        rows.append(
            [
                fixture,
                f"{flavour}/{backend}",
                f"{min(o['cosine'] for o in boxes):.5f}" if boxes else "-",
                f"{min(o['snr_db'] for o in boxes):.1f}" if boxes else "-",
                f"{det['match_rate']:.3f} ({det['found']}/{det['required']})",
                "yes" if figures["accepted"] else "no: " + "; ".join(figures["misses"])[:60],
            ]
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT / "tests" / "data" / "fixtures")
    parser.add_argument("--flavours", default="cpu,tflite,jetson")
    parser.add_argument("--calib-images", type=int, default=100)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--work", type=Path, help="keep the bundles here")
    args = parser.parse_args()
    from edgekit.testing import generate

    header = ["fixture", "flavour/backend", "box cos", "box SNR dB", "match rate", "accepted"]
    rows: List[List[str]] = []
    with tempfile.TemporaryDirectory(prefix="edgekit-snr-") as tmp:
        work = args.work or Path(tmp)
        data = generate(work / "shapes", args.calib_images + 40, 0, 0, seed=11, imgsz=args.imgsz)
        calib = data.root / "images" / "train"
        for checkpoint in sorted(args.fixtures.glob("*.pt")):
            for flavour in args.flavours.split(","):
                out = work / f"{checkpoint.stem}-{flavour}.edgekit"
                print(f"converting {checkpoint.name} ({flavour}) ...", file=sys.stderr, flush=True)
                bundle = convert_int8(
                    checkpoint, out, calib, args.calib_images, args.imgsz, FLAVOURS[flavour]
                )
                rows += rows_of(bundle, checkpoint.stem, flavour)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    snrs = [float(r[3]) for r in rows if r[3] != "-"]
    if snrs:
        print(f"\nlowest valid box SNR: {min(snrs):.1f} dB over {len(snrs)} INT8 models")
    return 0


if __name__ == "__main__":
    sys.exit(main())
