"""Compare ``edgekit predict --json`` output of the host with a device's (tools/aarch64_check.sh).

    python tools/aarch64_compare.py host.jsonl device.jsonl

Images are matched by file name. Equal means: the same number of detections, the same classes,
and boxes within ``--max-px`` pixels (default 0.5: the device venv has no OpenCV and resizes
with numpy, and float arithmetic differs between x86 and aarch64 kernels); confidences within
``--max-conf``. Prints one summary line; exits 1 when any image differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np


def load(path: Path) -> Dict[str, List[dict]]:
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {Path(r["image"]).name: r["detections"] for r in records}


def compare(
    host: List[dict], device: List[dict], max_px: float, max_conf: float
) -> Tuple[Optional[str], float]:
    """(None when equal, else what differs; the largest box coordinate difference in pixels)."""
    if len(host) != len(device):
        return f"{len(device)} detections, host {len(host)}", 0.0
    if not host:
        return None, 0.0

    def key(d: dict) -> tuple:
        return (d["class_id"], *np.round(d["box"], 0))

    host, device = sorted(host, key=key), sorted(device, key=key)
    if [d["class_id"] for d in host] != [d["class_id"] for d in device]:
        return "classes differ", 0.0
    px = float(np.abs(np.array([d["box"] for d in host]) - np.array([d["box"] for d in device])).max())
    conf = max(abs(a["confidence"] - b["confidence"]) for a, b in zip(host, device))
    if px > max_px or conf > max_conf:
        return f"box differs by {px:.3f} px, confidence by {conf:.4f}", px
    return None, px


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host", type=Path)
    parser.add_argument("device", type=Path)
    parser.add_argument("--max-px", type=float, default=0.5)
    parser.add_argument("--max-conf", type=float, default=0.01)
    args = parser.parse_args()
    host, device = load(args.host), load(args.device)
    if not host:
        print(f"no host detections in {args.host}")
        return 1
    if sorted(host) != sorted(device):
        print(f"device ran {len(device)} of {len(host)} images")
        return 1
    problems, worst = {}, 0.0
    for name in sorted(host):
        problem, px = compare(host[name], device[name], args.max_px, args.max_conf)
        worst = max(worst, px)
        if problem:
            problems[name] = problem
    total = sum(len(v) for v in host.values())
    if problems:
        print("DIFFERENT: " + "; ".join(f"{k}: {v}" for k, v in problems.items()))
        return 1
    print(f"equal: {len(host)} images, {total} detections, max box diff {worst:.3f} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
