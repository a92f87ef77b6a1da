"""Peak memory of one configuration, measured in a fresh process so configurations do not mix.

    python -m edgekit.bench.memory BUNDLE BACKEND OPTIONS_JSON [--threads N] [--runs N]

Prints one JSON line: ``baseline_mb`` (VmHWM after the imports, before loading the model),
``peak_mb`` (VmHWM after loading it and running ``runs`` inferences) and ``model_mb`` (their
difference: what loading and running this model added).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from edgekit.backends import BACKENDS


def high_water_mb() -> float:
    """Resident-set high-water mark of this process (VmHWM, else ``ru_maxrss``), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def measure_here(
    bundle: str, backend: str, options: Dict[str, Any], threads: Optional[int], runs: int
) -> dict:
    from edgekit.detector import Detector
    from edgekit.runtimes import runtime_class

    runtime_class(backend)  # import the backend before the baseline
    module = BACKENDS.get(backend).importable()
    if module:
        __import__(module)
    baseline = high_water_mb()
    det = Detector(bundle, backend=backend, threads=threads, **options)
    frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    for _ in range(max(runs, 1)):
        det(frame)
    peak = high_water_mb()
    det.close()
    return {"baseline_mb": baseline, "peak_mb": peak, "model_mb": peak - baseline}


def measure_in_subprocess(
    bundle: Path, backend: str, options: Dict[str, Any], threads: Optional[int], runs: int = 3
) -> Optional[dict]:
    """Run ``measure_here`` in a child interpreter; None (and the reason on stderr) if it fails."""
    cmd = [sys.executable, "-m", "edgekit.bench.memory", str(bundle), backend, json.dumps(options)]
    cmd += ["--runs", str(runs)] + (["--threads", str(threads)] if threads else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"memory measurement of {backend} failed: {tail}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description="Peak RSS of one bundle configuration")
    parser.add_argument("bundle")
    parser.add_argument("backend")
    parser.add_argument("options", help="runtime options as JSON")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print(
        json.dumps(measure_here(args.bundle, args.backend, json.loads(args.options), args.threads, args.runs))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
