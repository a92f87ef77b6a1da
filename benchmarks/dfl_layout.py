"""The DFL expectation's layout in the exported graph: Ultralytics' form against edgekit's.

    python benchmarks/dfl_layout.py [--weights tests/data/fixtures/yolo11-shapes.pt] [--imgsz 320]

Converts the same checkpoint twice for the ``cpu`` target (float interface, no verification
images needed): once with the expectation as Ultralytics exports it (transpose, softmax over
axis 1, a 1x1 convolution with weights 0..bins-1) and once in edgekit's form (softmax over the
bins axis, a (1, bins) MatMul from the left, no transpose). Prints each backend's largest output
difference between the two and their inference times, timed together by the one harness
(``edgekit.timing``), with the ratio old / new (> 1: edgekit's form is faster).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from torch import nn

from edgekit import convert
from edgekit.bundle import read_bundle
from edgekit.reparam.heads import DecodedHead
from edgekit.runtimes import open_runtime
from edgekit.timing import Schedule, alternating, wall_ms

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("onnxruntime", "openvino")


def ultralytics_form(self: DecodedHead, box: torch.Tensor) -> torch.Tensor:
    """Ultralytics' DFL: (B, bins, 4, N) after a transpose, softmax over axis 1, 1x1 conv."""
    prob = box.reshape(-1, 4, self.bins, self.num_anchors).transpose(1, 2).softmax(1)
    weight = self.dfl_weight.reshape(1, self.bins, 1, 1)
    return nn.functional.conv2d(prob, weight).reshape(-1, 4, self.num_anchors)


def build(weights: Path, imgsz: int, folder: Path) -> Dict[str, Any]:
    """The two bundles of ``weights``, one per DFL form (read back)."""
    edgekit_form = DecodedHead._expectation
    bundles = {}
    for name, form in (("ultralytics form", ultralytics_form), ("edgekit form", edgekit_form)):
        DecodedHead._expectation = form
        try:
            out = folder / f"{name.split()[0]}.edgekit"
            path = convert(
                weights, target="cpu", precision="fp32", imgsz=imgsz, output=out, host_io=False, measure=False
            )
            bundles[name] = read_bundle(path)
        finally:
            DecodedHead._expectation = edgekit_form
    return bundles


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=ROOT / "tests/data/fixtures/yolo11-shapes.pt")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=120)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        bundles = build(args.weights, args.imgsz, Path(tmp))
        x = np.random.default_rng(0).random((1, 3, args.imgsz, args.imgsz), dtype=np.float32)
        runtimes = {
            (backend, name): open_runtime(
                backend,
                b.root / b.manifest.artifact(backend).path,
                b.manifest.input,
                b.manifest.outputs,
                args.threads,
            )
            for backend in BACKENDS
            for name, b in bundles.items()
        }
        keys = list(runtimes)
        schedule = Schedule.for_runs(args.runs)
        times = alternating([wall_ms(lambda r=runtimes[k]: r.infer(x)) for k in keys], schedule)
        med = {k: statistics.median(t) for k, t in zip(keys, times)}
        print(
            f"\n{args.weights.name}, {args.imgsz}x{args.imgsz}, {args.threads} threads, {schedule.describe()}"
        )
        print(f"{'backend':13}{'ultralytics':>14}{'edgekit':>12}{'old/new':>9}{'max |d|':>10}")
        for backend in BACKENDS:
            old, new = (runtimes[(backend, n)].infer(x) for n in bundles)
            diff = max(float(np.abs(old[k] - new[k]).max()) for k in old)
            t_old, t_new = (med[(backend, n)] for n in bundles)
            print(f"{backend:13}{t_old:>11.3f} ms{t_new:>9.3f} ms{t_old / t_new:>8.2f}x{diff:>10.1e}")
        for rt in runtimes.values():
            rt.close()
    print("max |d|: the largest difference of any output (boxes in input pixels, scores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
