"""The pipeline end to end on generated videos and images with a tiny real ONNX detector."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any, List

import numpy as np
import pytest

from edgekit.pipeline import JsonLinesSink, Sink, StopStream, VideoSink, run_pipeline

from ..conftest import need
from .helpers import frame_image, read_video, write_video


def test_stream_matches_the_detector_frame_by_frame(tmp_path: Path, detector: Any) -> None:
    video = write_video(tmp_path / "v.avi", 12)
    expected = [detector(frame) for frame in read_video(video)]
    results = list(detector.stream(str(video)))
    assert [r.index for r in results] == list(range(12))
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got.detections.xyxy, want.xyxy)
        np.testing.assert_array_equal(got.detections.class_id, want.class_id)
    assert {r.detections.names[0] for r in results} == {"red", "green", "blue"}  # follows the colour
    assert set(results[0].timings) >= {"capture", "preprocess", "inference", "decode", "sinks", "total"}


def test_stream_over_an_image_folder(tmp_path: Path, detector: Any) -> None:
    cv2 = need("cv2")
    for i, name in enumerate(("x", "y")):
        cv2.imwrite(str(tmp_path / f"{name}.png"), frame_image(i))
    results = list(run_pipeline(detector, str(tmp_path)))
    assert [r.name for r in results] == ["x", "y"]
    assert [r.detections.names[0] for r in results] == ["red", "green"]


def test_sinks_stats_and_max_frames(tmp_path: Path, detector: Any) -> None:
    video = write_video(tmp_path / "v.avi", 30, fps=15.0)
    lines: List[str] = []
    stream = detector.stream(
        str(video),
        sinks=[VideoSink(tmp_path / "out.mp4"), JsonLinesSink(tmp_path / "out.jsonl")],
        max_frames=10,
        stats_every=1e-9,
        echo=lines.append,
        conf=0.5,
    )
    with stream:
        results = list(stream)
    assert len(results) == 10 and len(read_video(tmp_path / "out.mp4")) == 10
    records = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(10)) and "video file" in records[0]["source"]
    assert all(d["confidence"] >= 0.5 for r in records for d in r["detections"])
    assert stream.stats.frames == 10 and lines[-1].startswith("done: 10 frames")
    assert len(lines) == 11


def test_ctrl_c_in_the_loop_completes_the_video(tmp_path: Path, detector: Any) -> None:
    video = write_video(tmp_path / "v.avi", 50)
    out = tmp_path / "out.mp4"
    stream = detector.stream(str(video), sinks=[VideoSink(out)])
    with pytest.raises(KeyboardInterrupt), stream:
        for result in stream:
            if result.index == 7:
                raise KeyboardInterrupt
    assert len(read_video(out)) == 8 and not stream.capture.running


def test_ctrl_c_under_stop_on_sigint_ends_the_stream_after_the_frame(tmp_path: Path, detector: Any) -> None:
    video = write_video(tmp_path / "v.avi", 50)
    out = tmp_path / "out.mp4"
    stream = detector.stream(str(video), sinks=[VideoSink(out)])
    before = signal.getsignal(signal.SIGINT)
    seen = []
    with stream, stream.stop_on_sigint():
        for result in stream:
            seen.append(result.index)
            if result.index == 5:
                os.kill(os.getpid(), signal.SIGINT)  # a real signal, handled between bytecodes
    assert stream.interrupted and seen == list(range(6))
    assert len(read_video(out)) == 6 and not stream.capture.running
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back


def test_stop_from_another_thread_while_waiting_for_frames(detector: Any) -> None:
    from .helpers import CounterSource

    source = CounterSource(fps=2.0)  # the loop mostly waits on an empty queue
    stream = detector.stream(source)
    got = []
    timer = threading.Timer(1.2, stream.stop)
    timer.start()
    with stream:
        got = [r.index for r in stream]
    timer.join()
    assert 1 <= len(got) <= 4 and not stream.capture.running and not stream.interrupted


def test_a_sink_can_end_the_stream(tmp_path: Path, detector: Any) -> None:
    class StopAt(Sink):
        def write(self, result: Any) -> None:
            if result.index == 4:
                raise StopStream

    results = list(detector.stream(str(write_video(tmp_path / "v.avi", 20)), sinks=[StopAt()]))
    assert len(results) == 4


def test_leaving_the_loop_early_stops_capture(tmp_path: Path, detector: Any) -> None:
    stream = detector.stream(
        str(write_video(tmp_path / "v.avi", 40)), sinks=[JsonLinesSink(tmp_path / "o.jsonl")]
    )
    for result in stream:
        if result.index == 2:
            break
    stream.close()
    assert not stream.capture.running and stream.sinks[0].stream.closed
    with pytest.raises(RuntimeError, match="once"):
        iter(stream)
