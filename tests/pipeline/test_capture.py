"""The capture thread: every frame of a file, newest frame of a live source, reconnect with backoff."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edgekit.pipeline.capture import Capture, SourceLostError
from edgekit.pipeline.sources import open_source

from .helpers import CounterSource, write_video


def drain(capture: Capture, limit: int = 10_000, delay: float = 0.0) -> list:
    frames = []
    for _ in range(limit):
        frame = capture.get(timeout=10)
        if frame is None:
            break
        frames.append(frame)
        time.sleep(delay)
    return frames


def test_file_capture_delivers_every_frame_to_a_slow_consumer(tmp_path: Path) -> None:
    capture = Capture(open_source(str(write_video(tmp_path / "v.avi", 20))), queue_size=2).start()
    frames = drain(capture, delay=0.005)
    capture.stop()
    assert [f.index for f in frames] == list(range(20))
    assert capture.stats.dropped == 0 and capture.get(timeout=1) is None  # the end is sticky


def test_live_capture_keeps_the_latest_frame_and_counts_drops() -> None:
    source = CounterSource(fps=1000)
    capture = Capture(source).start()
    frames = [capture.get(timeout=5) for _ in range(10)]
    for _ in frames:
        time.sleep(0.01)  # a consumer slower than the camera
    more = []
    for _ in range(5):
        time.sleep(0.02)
        more.append(capture.get(timeout=5))
    capture.stop()
    indices = [f.index for f in frames + more]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    assert capture.stats.dropped > 0
    assert max(b - a for a, b in zip(indices, indices[1:])) > 1  # frames were skipped, not queued
    assert source.closed >= 1 and not capture.running


def test_live_source_reconnects_with_backoff() -> None:
    source = CounterSource(fps=500, fail_after=5, failed_opens=2)
    capture = Capture(source, latest=False, backoff=(0.02, 0.1)).start()
    t0 = time.perf_counter()
    frames = [capture.get(timeout=5) for _ in range(12)]
    elapsed = time.perf_counter() - t0
    capture.stop()
    assert all(f is not None for f in frames)
    assert [int(f.name) for f in frames] == list(range(12))  # frames keep coming after the loss
    assert source.opens == 4 and capture.stats.reconnects == 1  # 1 + 2 failed + 1 good
    assert elapsed >= 0.02 + 0.04 + 0.08  # the three waits doubled


def test_live_source_gives_up_after_max_retries() -> None:
    source = CounterSource(fail_after=3, failed_opens=100)
    capture = Capture(source, latest=False, max_retries=2, backoff=(0.01, 0.02)).start()
    got = [capture.get(timeout=5) for _ in range(3)]
    assert all(f is not None for f in got)
    with pytest.raises(SourceLostError, match="2 reconnect attempts"):
        capture.get(timeout=5)
    capture.stop()


def test_stop_ends_a_live_capture_promptly() -> None:
    source = CounterSource(fps=100)
    capture = Capture(source).start()
    assert capture.get(timeout=5) is not None
    t0 = time.perf_counter()
    capture.stop()
    assert time.perf_counter() - t0 < 1.0 and not capture.running and not source.is_open


def test_stop_during_reconnect_backoff() -> None:
    source = CounterSource(fail_after=1, failed_opens=1000)
    capture = Capture(source, backoff=(0.05, 0.05)).start()
    assert capture.get(timeout=5) is not None
    time.sleep(0.2)  # now waiting between reconnect attempts
    t0 = time.perf_counter()
    capture.stop()
    assert time.perf_counter() - t0 < 1.0 and not capture.running
