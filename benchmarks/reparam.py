"""Reparameterization benchmark: params, GFLOPs and PyTorch CPU latency before/after, per variant.

    python benchmarks/reparam.py                        # yolov9-c, DAMO-YOLO-T/S, YOLO11n at 640
    python benchmarks/reparam.py --arch yolo11n gelan-c --imgsz 320 --details

Models are built un-trained (``Family.build``) with randomized BatchNorm statistics, reduced
with the family's registered pipeline (``edgekit.reparam.PIPELINES``; the standard pipeline
where a family registered none) and verified pass by pass on synthetic images. CPU latency
is a relative figure for this machine, not a device prediction.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional, Sequence

from edgekit.models.base import FAMILIES
from edgekit.models.loader import family_for_arch, import_families
from edgekit.reparam import (
    PIPELINES,
    ReparamOptions,
    ReparamReport,
    randomize_batchnorm,
    reparameterize,
    sample_inputs,
    standard_pipeline,
)

DEFAULT_ARCHS = ("yolov9-c", "damoyolo-t", "damoyolo-s", "yolo11n")


def run_one(arch: str, imgsz: int, output: str, runs: int) -> ReparamReport:
    family = family_for_arch(arch)
    if family is None:
        raise SystemExit(f"unknown architecture '{arch}' (families: {', '.join(FAMILIES.names())})")
    loaded = FAMILIES.get(family).build(arch)
    info = loaded.info
    options = ReparamOptions(output=output, imgsz=(imgsz, imgsz))
    if output == "split" and info.head.end2end:
        options = ReparamOptions(output="end2end", imgsz=(imgsz, imgsz))
    factory = PIPELINES.get(family) if family in PIPELINES else standard_pipeline
    pipeline = factory(info, options)
    model = randomize_batchnorm(loaded.model, seed=0).eval()
    images = sample_inputs((imgsz, imgsz), info.preprocess, batch=2)
    _, report = reparameterize(model, pipeline, images, latency_runs=runs)
    return report


def summary_row(arch: str, report: ReparamReport) -> List[str]:
    before, after = report.before, report.after
    assert before is not None and after is not None
    worst = max((p.max_error for p in report.passes if p.applied), default=0.0)
    return [
        arch,
        f"{before.params / 1e6:.2f} -> {after.params / 1e6:.2f}",
        f"{before.gflops:.2f} -> {after.gflops:.2f}",
        f"{before.latency_ms:.1f} -> {after.latency_ms:.1f}",
        f"{before.latency_ms / after.latency_ms:.2f}x",
        ",".join(p.name for p in report.passes if p.applied),
        f"{worst:.1e}",
    ]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="*", help="variants (default: the first variant of each family)")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--output", default="split", choices=["raw", "split", "concat", "end2end"])
    parser.add_argument("--runs", type=int, default=5, help="timed CPU runs per measurement")
    parser.add_argument("--details", action="store_true", help="print each model's per-pass table")
    args = parser.parse_args(argv)
    import_families()
    archs = args.arch or list(DEFAULT_ARCHS)
    header = ["arch", "params M", "GFLOPs", "CPU ms", "speed-up", "passes", "max rel err"]
    rows = []
    for arch in archs:
        report = run_one(arch, args.imgsz, args.output, args.runs)
        rows.append(summary_row(arch, report))
        if args.details:
            print(f"== {arch}\n{report.format_table()}\n")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    print(f"input 1x3x{args.imgsz}x{args.imgsz}, PyTorch CPU, median of {args.runs} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
