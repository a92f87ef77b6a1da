"""Sinks: annotated video (renamed on close), image folder, JSON lines (flushed), window."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgekit.decoding.detections import Detections
from edgekit.errors import BackendError
from edgekit.pipeline import ImageFolderSink, JsonLinesSink, StreamResult, VideoSink, WindowSink
from edgekit.pipeline.sources import FileSource

from ..conftest import need
from .helpers import frame_image, read_video, write_video


def result(i: int, name: str = "") -> StreamResult:
    dets = Detections(np.array([[10, 10, 50, 40]]), np.array([0.9]), np.array([1]), ("a", "b"))
    return StreamResult(i, frame_image(i), dets, {"inference": 1.5, "total": 2.0}, name or str(i))


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_video_sink_writes_a_temp_file_then_renames(tmp_path: Path, suffix: str) -> None:
    need("cv2")
    path = tmp_path / "out" / f"annotated{suffix}"
    sink = VideoSink(path)
    sink.bind(FileSource(write_video(tmp_path / "src.avi", 1, fps=12.0)))  # fps unknown until opened
    for i in range(6):
        sink.write(result(i))
    assert not path.exists() and sink.tmp.exists()
    sink.close()
    assert path.exists() and not sink.tmp.exists()
    frames = read_video(path)
    assert len(frames) == 6 and frames[0].shape == (64, 128, 3)
    plain = frame_image(0).astype(int)
    assert np.abs(frames[0].astype(int) - plain).mean() > 1  # boxes were drawn


def test_image_folder_sink_names(tmp_path: Path) -> None:
    need("cv2")
    sink = ImageFolderSink(tmp_path / "imgs")
    sink.write(result(3, "000003"))  # a video frame: sources name them by zero-padded index
    sink.write(result(4, "street"))  # an image file keeps its name
    sink.write(result(5, "0"))  # also a numeric one
    assert sorted(p.name for p in (tmp_path / "imgs").iterdir()) == ["0.jpg", "000003.jpg", "street.jpg"]


def test_json_lines_are_flushed_per_frame(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    sink = JsonLinesSink(path, source="cam")
    sink.write(result(0))
    sink.write(result(1))
    lines = path.read_text().splitlines()  # readable before close
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["frame"] == 0 and first["source"] == "cam" and first["ms"]["inference"] == 1.5
    assert first["detections"][0]["class"] == "b" and first["detections"][0]["box"] == [10, 10, 50, 40]
    sink.close()
    assert sink.stream.closed


def test_window_needs_a_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(BackendError, match="no display"):
        WindowSink()
