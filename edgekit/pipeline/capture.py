"""Capture on its own thread: every frame of a file (bounded queue), the newest frame of a live source.

A live source that stops delivering is closed and reopened with exponential backoff
(``max_retries=None``: forever, until stopped); a file ends cleanly at its last frame.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from typing import NamedTuple, Optional, Tuple

import numpy as np

from edgekit.errors import BackendError
from edgekit.pipeline.sources import Source
from edgekit.pipeline.stats import StreamStats


class Frame(NamedTuple):
    """One captured frame: running index, BGR image, name, and the time ``read()`` took (ms)."""

    index: int
    image: np.ndarray
    name: str
    capture_ms: float


class SourceLostError(BackendError):
    """A live source could not be reopened within ``max_retries``."""


_END = object()


class Capture:
    """Reads ``source`` on a daemon thread; ``get()`` returns the next ``Frame`` or None at the end.

    ``latest``: keep only the newest frame (default for live sources; older unread frames are
    counted as dropped) instead of queueing up to ``queue_size`` frames (default for files).
    """

    def __init__(
        self,
        source: Source,
        stats: Optional[StreamStats] = None,
        latest: Optional[bool] = None,
        queue_size: int = 4,
        reconnect: bool = True,
        max_retries: Optional[int] = None,
        backoff: Tuple[float, float] = (0.25, 8.0),
        max_frames: Optional[int] = None,
    ) -> None:
        self.source = source
        self.stats = stats if stats is not None else StreamStats()
        self.latest = source.is_live if latest is None else latest
        self.reconnect = reconnect and source.is_live
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_frames = max_frames
        self.error: Optional[BaseException] = None
        self._stop = threading.Event()
        self._queue: queue.Queue = queue.Queue(maxsize=1 if self.latest else max(1, queue_size))
        self._thread = threading.Thread(target=self._run, name="edgekit-capture", daemon=True)
        self._index = 0

    def start(self) -> Capture:
        """Open the source (errors raise here, in the caller's thread) and start reading."""
        self.source.open()
        self._thread.start()
        return self

    def get(self, timeout: Optional[float] = None) -> Optional[Frame]:
        """The next frame; None at the end of the stream (or ``timeout`` seconds without a frame)."""
        try:
            return self.next(timeout)
        except queue.Empty:
            return None

    def next(self, timeout: Optional[float] = None) -> Optional[Frame]:
        """The next frame; None at the end of the stream; ``queue.Empty`` after ``timeout`` seconds."""
        item = self._queue.get(timeout=timeout)
        if item is _END:
            self._queue.put(_END)  # later calls see the end too
            if self.error is not None:
                raise self.error
            return None
        return item  # type: ignore[return-value]

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop, wait for it, and close the source."""
        self._stop.set()
        while True:  # unblock a producer waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread.is_alive():
            self._thread.join(timeout)
        if not self._thread.is_alive():
            self.source.close()

    # -- the capture thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self.max_frames is not None and self._index >= self.max_frames:
                    break
                t0 = time.perf_counter()
                image = self.source.read()
                ms = (time.perf_counter() - t0) * 1e3
                if image is None:
                    if self.reconnect and not self._stop.is_set() and self._reopen():
                        continue
                    break
                self._push(Frame(self._index, image, self.source.name or str(self._index), ms))
                self._index += 1
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
            self.error = exc
        finally:
            self._finish()

    def _push(self, frame: Frame) -> None:
        if self.latest:
            try:
                self._queue.get_nowait()
                self.stats.add_dropped()
            except queue.Empty:
                pass
            self._queue.put(frame)
            return
        while not self._stop.is_set():
            try:
                self._queue.put(frame, timeout=0.1)
                return
            except queue.Full:
                continue

    def _reopen(self) -> bool:
        """Reopen a lost live source with exponential backoff; False when stopped or out of retries."""
        self.source.close()
        first, cap = self.backoff
        attempt = 0
        while not self._stop.is_set():
            if self.max_retries is not None and attempt >= self.max_retries:
                self.error = SourceLostError(
                    f"{self.source.describe()}: lost, not back after {attempt} reconnect attempts"
                )
                return False
            if self._stop.wait(min(cap, first * (2**attempt))):
                return False
            attempt += 1
            try:
                self.source.open()
            except Exception:  # noqa: BLE001 - any failure to open: try again later
                continue
            self.stats.add_reconnect()
            return True
        return False

    def _finish(self) -> None:
        while True:
            try:
                self._queue.put_nowait(_END)
                return
            except queue.Full:
                if self._stop.is_set() or self.latest:
                    with contextlib.suppress(queue.Empty):
                        self._queue.get_nowait()  # a stopped/live stream: the end matters more
                    continue
                time.sleep(0.01)
