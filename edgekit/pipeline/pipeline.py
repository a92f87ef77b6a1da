"""The stream pipeline: capture thread -> detector -> sinks, as a Python iterator.

>>> with det.stream("rtsp://camera/stream", sinks=[JsonLinesSink("out.jsonl")]) as stream:
...     for result in stream:
...         print(result.index, len(result.detections))

Leaving the loop, ``stream.stop()`` or Ctrl-C stops capture and closes every sink: output files
are complete. Inside ``with stream.stop_on_sigint():`` the first Ctrl-C ends the stream after the
current frame (no exception raised in the middle of a queue or a sink; a second Ctrl-C interrupts).
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from edgekit._closing import Closing
from edgekit.decoding.detections import Detections
from edgekit.pipeline.capture import Capture
from edgekit.pipeline.sinks import Sink, StopStream
from edgekit.pipeline.sources import Source, SourceSpec, open_source
from edgekit.pipeline.stats import StreamStats

_POLL_S = 0.1  # how often a loop waiting for a frame looks at the stop flag


class StreamResult(NamedTuple):
    """One processed frame: index, BGR image, detections, per-stage ms, and the frame's name."""

    index: int
    image: np.ndarray
    detections: Detections
    timings: Dict[str, float]
    name: str
    track_ids: Optional[np.ndarray] = None  # with a tracker: one id per detection (-1: none yet)


class Stream(Closing):
    """An iterable run of ``detector`` over ``source``; also a context manager.

    ``sinks`` get every result; ``stats_every`` seconds (None: never) ``echo`` prints a stats
    line, and once more at the end when ``stats_every`` is set. ``max_frames`` bounds the run;
    ``reconnect``/``max_retries``/``backoff`` apply to live sources; ``latest`` overrides the
    latest-frame-wins choice; ``tracker`` ("norfair" or an object with ``update(detections)``)
    adds ``track_ids`` to each result; ``overrides`` (conf, iou, ...) go to the detector.
    """

    def __init__(
        self,
        detector: Any,
        source: SourceSpec,
        sinks: Sequence[Sink] = (),
        stats_every: Optional[float] = None,
        echo: Callable[[str], None] = print,
        max_frames: Optional[int] = None,
        reconnect: bool = True,
        max_retries: Optional[int] = None,
        backoff: Tuple[float, float] = (0.25, 8.0),
        latest: Optional[bool] = None,
        queue_size: int = 4,
        source_options: Optional[Dict[str, Any]] = None,
        tracker: Any = None,
        **overrides: Any,
    ) -> None:
        self.detector = detector
        self.tracker = None
        if tracker is not None:
            from edgekit.pipeline.tracking import make_tracker

            self.tracker = make_tracker(tracker)
        self.source: Source = open_source(source, **(source_options or {}))
        self.sinks: List[Sink] = list(sinks)
        self.stats = StreamStats()
        self.stats_every = stats_every
        self.echo = echo
        self.overrides = overrides
        self.capture = Capture(
            self.source,
            self.stats,
            latest=latest,
            queue_size=queue_size,
            reconnect=reconnect,
            max_retries=max_retries,
            backoff=backoff,
            max_frames=max_frames,
        )
        self._started = False
        self._closed = False
        self._stopping = False  # a plain flag: set from signal handlers, polled by the loop
        self.interrupted = False  # set by Ctrl-C under ``stop_on_sigint()``

    def __iter__(self) -> Iterator[StreamResult]:
        if self._started:
            raise RuntimeError("a Stream can be iterated once")
        self._started = True
        return self._generate()

    def _generate(self) -> Iterator[StreamResult]:
        det = self.detector
        try:
            self.capture.start()
            for sink in self.sinks:
                sink.bind(self.source)
            self.stats.started = time.perf_counter()
            while not self._stopping:
                try:
                    frame = self.capture.next(timeout=_POLL_S)
                except queue.Empty:
                    continue  # no frame yet: look at the stop flag again
                if frame is None:
                    break
                t0 = time.perf_counter()
                detections = det(frame.image, **self.overrides)
                timings = {"capture": frame.capture_ms}
                timings.update(det.timings)
                t1 = time.perf_counter()
                track_ids = self.tracker.update(detections) if self.tracker is not None else None
                result = StreamResult(frame.index, frame.image, detections, timings, frame.name, track_ids)
                try:
                    for sink in self.sinks:
                        sink.write(result)
                except StopStream:
                    break
                t2 = time.perf_counter()
                timings["sinks"] = (t2 - t1) * 1e3
                timings["total"] = (t2 - t0) * 1e3
                self.stats.add(timings)
                self.stats.maybe_print(self.stats_every, self.echo)
                yield result
        finally:
            self.close()

    def stop(self) -> None:
        """End the stream after the current frame (safe from another thread or a signal handler)."""
        self._stopping = True

    @contextlib.contextmanager
    def stop_on_sigint(self) -> Iterator[Stream]:
        """Within: Ctrl-C sets ``interrupted`` and ends the stream after the current frame.

        A second Ctrl-C raises ``KeyboardInterrupt`` at once. Only in the main thread (where Python
        runs signal handlers); elsewhere this does nothing.
        """
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def on_sigint(signum: int, frame: Any) -> None:
            if self.interrupted:
                raise KeyboardInterrupt
            self.interrupted = True
            self.stop()

        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)

    def close(self) -> None:
        """Stop capture and close every sink (idempotent; runs on Ctrl-C and on leaving the loop)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.capture.stop()
        finally:
            errors = []
            for sink in self.sinks:
                try:
                    sink.close()
                except Exception as exc:  # noqa: BLE001 - close the others, then report
                    errors.append(exc)
            if self.stats_every:
                self.echo(f"done: {self.stats.line()}")
            if errors:
                raise errors[0]


def run_pipeline(detector: Any, source: SourceSpec, sinks: Sequence[Sink] = (), **options: Any) -> Stream:
    """Run ``detector`` over ``source`` into ``sinks``; iterate the returned ``Stream`` for results."""
    return Stream(detector, source, sinks, **options)
