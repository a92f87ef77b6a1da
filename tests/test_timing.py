"""The timing harness: alternating blocks, warm-up runs discarded, medians per call."""

from __future__ import annotations

import time
from typing import List

from edgekit.timing import alternating, median_ms


def test_blocks_alternate_and_warmups_are_not_recorded() -> None:
    log: List[str] = []

    def call(name: str):
        def run() -> str:
            log.append(name)
            return name

        return run

    values = alternating([call("a"), call("b"), call("c")], blocks=3, per_block=2, warmup=1)
    assert values == [["a"] * 6, ["b"] * 6, ["c"] * 6]
    blocks = ["".join(log[i : i + 9]) for i in range(0, len(log), 9)]
    assert blocks == ["aaabbbccc", "cccbbbaaa", "aaabbbccc"]  # 1 warm-up + 2 timed, order reversed


def test_medians_rank_a_slow_call_behind_a_fast_one() -> None:
    fast, slow = median_ms([lambda: time.sleep(0.001), lambda: time.sleep(0.02)], blocks=2, per_block=2)
    assert 1.0 <= fast < 20.0 <= slow
