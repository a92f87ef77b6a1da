"""The one timing harness: configurations timed in alternating blocks, so that drift of the
machine (frequency, caches, another process) falls on all of them alike.

Dependency-free (used by the converter's reparameterization report and by ``edgekit benchmark``).
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, List, Sequence, TypeVar

T = TypeVar("T")


def alternating(
    calls: Sequence[Callable[[], T]], blocks: int, per_block: int = 1, warmup: int = 0
) -> List[List[T]]:
    """Run every call in ``blocks`` blocks; returns, per call, the values of its timed runs.

    Each block runs each call ``warmup`` times untimed, then ``per_block`` times recorded; the
    order of the calls reverses from one block to the next, so none always runs after the same one.
    """
    values: List[List[T]] = [[] for _ in calls]
    for block in range(max(1, blocks)):
        order = range(len(calls)) if block % 2 == 0 else reversed(range(len(calls)))
        for k in order:
            for _ in range(warmup):
                calls[k]()
            values[k].extend(calls[k]() for _ in range(max(1, per_block)))
    return values


def wall_ms(fn: Callable[[], object]) -> Callable[[], float]:
    """``fn`` as a call returning its wall time in milliseconds."""

    def timed() -> float:
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) * 1e3

    return timed


def median_ms(fns: Sequence[Callable[[], object]], blocks: int = 3, per_block: int = 3) -> List[float]:
    """The median wall time of each of ``fns``, timed in alternating warmed blocks (one warm-up
    run per block)."""
    times = alternating([wall_ms(f) for f in fns], blocks, per_block, warmup=1)
    return [float(statistics.median(t)) for t in times]
