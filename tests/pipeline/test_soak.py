"""Soak: 10,000 frames through capture, inference, JSON lines and stats without growing memory."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from edgekit.pipeline import JsonLinesSink, VideoSink

from .helpers import write_video

FRAMES = 10_000
WARMUP = 1_000


def rss_mb() -> float:
    """Resident set size of this process (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_ten_thousand_frames_without_memory_growth(tmp_path: Path, detector: Any) -> None:
    video = write_video(tmp_path / "soak.avi", FRAMES, fps=30.0)
    jsonl = tmp_path / "soak.jsonl"
    stream = detector.stream(str(video), sinks=[JsonLinesSink(jsonl), VideoSink(tmp_path / "soak-out.avi")])
    start = end = 0.0
    count = 0
    t0 = time.perf_counter()
    with stream:
        for result in stream:
            count += 1
            if result.index == WARMUP:
                start = rss_mb()
    end = rss_mb()
    elapsed = time.perf_counter() - t0
    print(f"\nsoak: {count} frames in {elapsed:.1f} s, RSS after warm-up {start:.1f} MB, at end {end:.1f} MB")
    print(f"soak stats: {stream.stats.line()}")
    assert count == FRAMES and stream.stats.frames == FRAMES
    assert sum(1 for _ in jsonl.open()) == FRAMES
    assert end - start < 20.0
