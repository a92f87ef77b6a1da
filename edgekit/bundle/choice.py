"""The backend ``edgekit benchmark`` measured fastest on this machine, kept in the bundle.

A Raspberry Pi bundle carries an OpenVINO model beside the .tflite. Which one is faster depends
on the board and the installed versions, so the benchmark decides on the device: it writes
``device_choice.json`` into the bundle, and ``Detector`` then opens that backend by default on
the same machine (same architecture, CPU model and board). On any other machine the file is
ignored and the manifest's order applies. Importable without torch.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Union

CHOICE_FILE = "device_choice.json"
# Beyond a run's noise: the fastest backend's median end to end at least MIN_GAIN below every
# other's, and faster than each in at least MIN_WIN_RATE of the timed runs they shared (paired by block).
MIN_GAIN = 0.05
MIN_WIN_RATE = 0.75


@dataclass(frozen=True)
class Comparison:
    """The fastest backend of one benchmark run and how clearly it won."""

    fastest: str
    median_ms: Dict[str, float]
    gain: float  # the smallest relative gain of its median over another backend's
    win_rate: float  # the smallest fraction of paired rounds it won against another backend

    @property
    def clear(self) -> bool:
        """Whether the difference is beyond this run's noise (see ``MIN_GAIN``, ``MIN_WIN_RATE``)."""
        return self.gain >= MIN_GAIN and self.win_rate >= MIN_WIN_RATE

    def describe(self) -> str:
        ms = self.median_ms
        others = ", ".join(f"{b} {t:.1f} ms" for b, t in sorted(ms.items()) if b != self.fastest)
        return (
            f"fastest here: {self.fastest} {ms[self.fastest]:.1f} ms (vs {others}; "
            f"{self.gain:.0%} ahead, won {self.win_rate:.0%} of paired rounds)"
        )


def compare_rounds(rounds_ms: Mapping[str, Sequence[float]]) -> Optional[Comparison]:
    """Compare backends timed together (backend -> end-to-end ms of each timed run, ``edgekit.timing``).

    None for fewer than two backends.
    """
    if len(rounds_ms) < 2:
        return None
    median = {b: float(statistics.median(t)) for b, t in rounds_ms.items()}
    fastest = min(median, key=lambda b: median[b])
    gains, wins = [], []
    for other, times in rounds_ms.items():
        if other == fastest:
            continue
        gains.append(1.0 - median[fastest] / median[other] if median[other] > 0 else 0.0)
        pairs = list(zip(rounds_ms[fastest], times))
        wins.append(float(sum(a < b for a, b in pairs)) / len(pairs) if pairs else 0.0)
    return Comparison(fastest, median, float(min(gains)), float(min(wins)))


def machine_key() -> Dict[str, str]:
    """What identifies this machine for a speed choice: architecture, CPU model, board model."""
    from edgekit.devices.host import detect_host

    host = detect_host(probe_modules=False)
    return {"arch": host.arch or "", "cpu": host.cpu_model or "", "board": host.device_model or ""}


def record_fastest(
    root: Union[str, Path],
    median_ms: Mapping[str, float],
    threads: Optional[int] = None,
) -> Optional[Dict[str, object]]:
    """Write the fastest of ``median_ms`` (backend -> median end-to-end ms) into the bundle.

    Needs two backends or more (else returns None, writing nothing). The file is written to a
    temporary name and renamed: a reader never sees half of it.
    """
    if len(median_ms) < 2:
        return None
    fastest = min(median_ms, key=lambda b: median_ms[b])
    record: Dict[str, object] = {
        "backend": fastest,
        "median_ms": {b: round(float(ms), 3) for b, ms in median_ms.items()},
        "threads": threads,
        "machine": machine_key(),
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    folder = Path(root)
    fd, tmp = tempfile.mkstemp(prefix=f".{CHOICE_FILE}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)
            f.write("\n")
        os.replace(tmp, folder / CHOICE_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return record


def recorded_backend(root: Union[str, Path]) -> Optional[str]:
    """The backend measured fastest on this machine, or None (no record, another machine, unreadable)."""
    path = Path(root) / CHOICE_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        backend, machine = record["backend"], record["machine"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(f"{path}: ignored, not a speed record ({exc})", stacklevel=2)
        return None
    return str(backend) if machine == machine_key() else None
