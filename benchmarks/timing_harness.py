"""The timing harness against spinning pools: two identical onnxruntime sessions timed together.

    python benchmarks/timing_harness.py [--threads 2] [--repeats 4]

Both sessions run the same model with onnxruntime's default (spinning) thread pools. Timed by
a method that is not fooled, they come out equally fast in either order and every block runs at
the speed of one session alone. Prints, per method: the ratio of the two medians in each order
(1.00 = equal), the share of blocks that ran slower than 1.5x the session timed alone (the
baseline, measured in the same run), and the median against that baseline.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any, List, Optional, Tuple

import numpy as np

from edgekit.testing.onnx_models import conv_stack_onnx
from edgekit.timing import Schedule, alternating, median_ms, wall_ms

METHODS = {
    "run by run (old benchmark)": Schedule(blocks=48, per_block=1, warmup=0, settle_s=0),
    "blocks, warm-up only": Schedule(blocks=8, per_block=8, warmup=2, settle_s=0),
    "blocks + 5 ms pause": Schedule(blocks=8, per_block=8, warmup=2, settle_s=0.005),
    "blocks + 20 ms pause": Schedule(blocks=8, per_block=8, warmup=2, settle_s=0.02),
    "blocks + 50 ms pause (default)": Schedule(blocks=8, per_block=8, warmup=2),
}


def measure(
    sessions: Tuple[Any, Any], x: np.ndarray, schedule: Schedule, alone: float
) -> Tuple[float, float, float]:
    """(median ratio first/second, share of slow blocks, median / alone) for one order."""
    times = alternating([wall_ms(lambda s=s: s.run(None, {"x": x})) for s in sessions], schedule)
    a, b = (statistics.median(t) for t in times)
    n = schedule.per_block
    blocks = [statistics.median(t[i : i + n]) for t in times for i in range(0, len(t), n)]
    slow = sum(m > 1.5 * alone for m in blocks) / len(blocks)
    return a / b, slow, statistics.median([a, b]) / alone


def main(argv: Optional[List[str]] = None) -> int:
    import onnxruntime as ort

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args(argv)
    data = conv_stack_onnx()

    def session() -> Any:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])

    x = np.random.default_rng(1).standard_normal((1, 64, 64, 64)).astype(np.float32)
    first, second = session(), session()
    alone = median_ms([lambda: first.run(None, {"x": x})], Schedule(blocks=4, per_block=10, warmup=3))[0]
    print(f"one session alone: {alone:.2f} ms (baseline); {args.repeats} repeats x both orders per method")
    print(f"{'method':32}{'ratio min':>10}{'ratio max':>10}{'slow blocks':>13}{'vs alone':>10}")
    for name, schedule in METHODS.items():
        rows = [
            measure(order, x, schedule, alone)
            for _ in range(args.repeats)
            for order in ((first, second), (second, first))
        ]
        ratios = [r[0] for r in rows]
        slow = statistics.mean(r[1] for r in rows)
        vs = statistics.median(r[2] for r in rows)
        print(f"{name:32}{min(ratios):>10.3f}{max(ratios):>10.3f}{slow:>12.0%}{vs:>9.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
