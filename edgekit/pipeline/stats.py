"""Live stream statistics: rolling FPS, per-stage latency medians, dropped frames, reconnects."""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from typing import Callable, Deque, Dict, Optional

STAGES = ("capture", "preprocess", "inference", "decode", "sinks", "total")


class StreamStats:
    """Collected by the pipeline; ``line()`` for a one-line summary, ``summary()`` as a dict.

    FPS and medians are over the last ``window`` frames; counts are over the whole run.
    """

    def __init__(self, window: int = 120) -> None:
        self.window = window
        self.frames = 0
        self.dropped = 0
        self.reconnects = 0
        self.started = time.perf_counter()
        self._times: Deque[float] = deque(maxlen=window)
        self._stages: Dict[str, Deque[float]] = {s: deque(maxlen=window) for s in STAGES}
        self._lock = threading.Lock()
        self._last_print = self.started

    def add(self, timings: Dict[str, float]) -> None:
        """Record one processed frame's per-stage milliseconds."""
        with self._lock:
            self.frames += 1
            self._times.append(time.perf_counter())
            for stage, ms in timings.items():
                if stage in self._stages:
                    self._stages[stage].append(ms)

    def add_dropped(self, n: int = 1) -> None:
        with self._lock:
            self.dropped += n

    def add_reconnect(self) -> None:
        with self._lock:
            self.reconnects += 1

    @property
    def fps(self) -> float:
        """Frames per second over the rolling window (the whole run until the window fills)."""
        with self._lock:
            times = list(self._times)
        if len(times) >= 2 and times[-1] > times[0]:
            return (len(times) - 1) / (times[-1] - times[0])
        elapsed = time.perf_counter() - self.started
        return self.frames / elapsed if elapsed > 0 else 0.0

    def medians(self) -> Dict[str, float]:
        """Median milliseconds per stage over the rolling window."""
        with self._lock:
            return {s: statistics.median(v) for s, v in self._stages.items() if v}

    def summary(self) -> Dict[str, float]:
        out: Dict[str, float] = {
            "frames": self.frames,
            "fps": round(self.fps, 2),
            "dropped": self.dropped,
            "reconnects": self.reconnects,
            "elapsed_s": round(time.perf_counter() - self.started, 3),
        }
        out.update({f"{k}_ms": round(v, 3) for k, v in self.medians().items()})
        return out

    def line(self) -> str:
        m = self.medians()
        stages = " ".join(f"{s} {m[s]:.1f}" for s in STAGES if s in m)
        return (
            f"{self.frames} frames, {self.fps:.1f} FPS, {self.dropped} dropped, "
            f"{self.reconnects} reconnects | ms: {stages}"
        )

    def maybe_print(self, every_s: Optional[float], echo: Callable[[str], None]) -> bool:
        """Call ``echo(self.line())`` when ``every_s`` seconds passed since the last print."""
        if not every_s:
            return False
        now = time.perf_counter()
        if now - self._last_print < every_s:
            return False
        self._last_print = now
        echo(self.line())
        return True
