"""Live statistics."""

from __future__ import annotations

import time

import pytest

from edgekit.pipeline.stats import StreamStats


def test_medians_counts_and_line() -> None:
    stats = StreamStats(window=3)
    for ms in (1.0, 9.0, 2.0, 3.0):  # the window keeps the last three
        stats.add({"inference": ms, "total": 2 * ms, "unknown": 5.0})
    stats.add_dropped(2)
    stats.add_reconnect()
    assert stats.medians() == {"inference": 3.0, "total": 6.0}
    summary = stats.summary()
    assert summary["frames"] == 4 and summary["dropped"] == 2 and summary["reconnects"] == 1
    assert summary["inference_ms"] == 3.0
    assert "4 frames" in stats.line() and "inference 3.0" in stats.line()


def test_fps_over_the_window() -> None:
    stats = StreamStats(window=50)
    for _ in range(11):
        stats.add({})
        time.sleep(0.01)
    assert stats.fps == pytest.approx(100, rel=0.5)


def test_maybe_print_is_periodic() -> None:
    stats = StreamStats()
    lines = []
    assert not stats.maybe_print(None, lines.append)
    assert not stats.maybe_print(10.0, lines.append)
    stats._last_print -= 11.0
    assert stats.maybe_print(10.0, lines.append) and len(lines) == 1
    assert not stats.maybe_print(10.0, lines.append)
