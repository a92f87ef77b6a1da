"""The one timing harness: configurations timed in rotating warmed blocks.

Why blocks, not one run of each configuration in turn: onnxruntime's and OpenVINO's worker
threads keep busy-waiting for a while after a run returns. Alternating systems run by run, the
next system runs beside the previous one's spinning pool (on 2 cores, on about one core), and
its place in the rotation decides who looks slower. So every configuration runs a block at a
time: ``warmup`` untimed runs each time it takes over (they absorb the pool of the one before,
and refill caches), then ``per_block`` recorded runs; the order rotates from one block to the
next, so each configuration takes every position and follows every other one equally often,
and slow drift of the machine (frequency, another process) falls on all of them alike.

Used by ``edgekit benchmark``, the reparameterization report and every script in
``benchmarks/``. Dependency-free (the standard library only), importable on the device.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Schedule:
    """How configurations are timed against each other.

    ``blocks`` rounds; in each, every configuration runs ``warmup`` untimed then ``per_block``
    timed runs; ``settle_s`` is slept before a configuration takes over, so that the previous
    one's spinning worker threads park. Measured on 2 cores with two identical onnxruntime
    sessions (``benchmarks/timing_harness.py``, ``docs/measurements/2026-12-07-cpu-speed.md``):
    run by run, 60 % of the runs were slowed (2.6x the session alone); in blocks without a pause
    45 % of the blocks ran at about half speed, with 20 ms 7 %, with 50 ms none.
    """

    blocks: int = 6
    per_block: int = 8
    warmup: int = 2
    settle_s: float = 0.05

    def __post_init__(self) -> None:
        if self.blocks < 1 or self.per_block < 1 or self.warmup < 0 or self.settle_s < 0:
            raise ValueError(f"a timing schedule needs blocks, per_block >= 1, warmup >= 0: {self}")

    @classmethod
    def for_runs(cls, runs: int, warmup: int = 2, blocks: int = 0) -> Schedule:
        """About ``runs`` timed runs per configuration, split into blocks of up to 10 runs
        (at least 2 blocks where ``runs`` allows, so the order rotates)."""
        runs = max(1, runs)
        blocks = blocks or max(min(2, runs), -(-runs // 10))
        return cls(blocks=blocks, per_block=max(1, -(-runs // blocks)), warmup=warmup)

    @classmethod
    def quick(cls, blocks: int = 3, per_block: int = 3) -> Schedule:
        """A short schedule for one in-process figure (the reparameterization report)."""
        return cls(blocks=blocks, per_block=per_block, warmup=1)

    @property
    def runs(self) -> int:
        """Timed runs per configuration."""
        return self.blocks * self.per_block

    def describe(self) -> str:
        return (
            f"{self.blocks} rotating blocks of {self.per_block} timed runs, "
            f"{self.warmup} warm-up run{'s' if self.warmup != 1 else ''} after each switch"
        )


def rotation(count: int, block: int) -> List[int]:
    """The order of ``count`` configurations in ``block``: 0..count-1 rotated by ``block``."""
    start = block % count if count else 0
    return [*range(start, count), *range(start)]


def alternating(calls: Sequence[Callable[[], T]], schedule: Schedule) -> List[List[T]]:
    """Run every call by ``schedule``; returns, per call, the values of its timed runs in
    order (value ``i`` of every call comes from the same block)."""
    values: List[List[T]] = [[] for _ in calls]
    for block in range(schedule.blocks):
        for k in rotation(len(calls), block):
            if schedule.settle_s:
                time.sleep(schedule.settle_s)
            for _ in range(schedule.warmup):
                calls[k]()
            values[k].extend(calls[k]() for _ in range(schedule.per_block))
    return values


def wall_ms(fn: Callable[[], object]) -> Callable[[], float]:
    """``fn`` as a call returning its wall time in milliseconds."""

    def timed() -> float:
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) * 1e3

    return timed


def staged_ms(
    fn: Callable[[], object], stages: Callable[[], Dict[str, float]]
) -> Callable[[], Dict[str, float]]:
    """``fn`` as a call returning ``stages()`` read after it (per-stage ms the system reports
    itself, e.g. ``Detector.timings``) plus ``total``, its wall time."""

    wall = wall_ms(fn)

    def timed() -> Dict[str, float]:
        total = wall()
        return {**stages(), "total": total}

    return timed


def by_stage(runs: Sequence[Dict[str, float]]) -> Dict[str, List[float]]:
    """Per-run stage dicts (``staged_ms``) -> per stage, the values of every run."""
    keys = list(runs[0]) if runs else []
    return {key: [run[key] for run in runs] for key in keys}


def median_ms(fns: Sequence[Callable[[], object]], schedule: Optional[Schedule] = None) -> List[float]:
    """The median wall time of each of ``fns``, timed together by ``schedule``."""
    times = alternating([wall_ms(f) for f in fns], schedule or Schedule.quick())
    return [float(statistics.median(t)) for t in times]
