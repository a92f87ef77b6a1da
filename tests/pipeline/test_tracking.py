"""The optional tracking adapter (norfair; installed in the numpy-1 device environment)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgekit.decoding import Detections
from edgekit.pipeline.tracking import make_tracker

from .helpers import frame_image, write_video


def frame_detections(t: int) -> Detections:
    """A box moving right 4 px per frame (class 0), a static box (class 1), a late arrival (class 0)."""
    boxes = [[10 + 4 * t, 10, 40 + 4 * t, 40], [100, 60, 130, 90]]
    classes = [0, 1]
    if t >= 6:
        boxes.append([200, 10, 230, 40])
        classes.append(0)
    return Detections(np.array(boxes, np.float32), np.full(len(boxes), 0.9), np.array(classes), ["a", "b"])


def test_ids_are_stable_distinct_and_new_objects_get_new_ids() -> None:
    pytest.importorskip("norfair", reason="norfair pins numpy<2: it installs in the device environment")
    tracker = make_tracker("norfair")
    history = [tracker.update(frame_detections(t)) for t in range(12)]
    assert (history[0] == -1).all(), "tracks are confirmed only after the initialization delay"
    moving, static = history[4][0], history[4][1]
    assert moving >= 0 and static >= 0 and moving != static
    for ids in history[4:]:
        assert ids[0] == moving and ids[1] == static
    late = history[-1][2]
    assert late >= 0 and late not in (moving, static)


def test_stream_adds_track_ids(tmp_path: Path, detector: Any) -> None:
    pytest.importorskip("norfair", reason="norfair pins numpy<2: it installs in the device environment")
    cv2 = pytest.importorskip("cv2")
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(8):  # the same red scene: the tiny model's boxes stay put, so tracks persist
        cv2.imwrite(str(frames / f"{i:02d}.png"), frame_image(0))
    results = list(detector.stream(str(frames), tracker="norfair"))
    assert len(results) == 8
    assert (results[0].track_ids == -1).all()
    last = results[-1]
    assert last.track_ids is not None and len(last.track_ids) == len(last.detections) > 0
    assert (last.track_ids >= 0).all() and len(set(last.track_ids.tolist())) == len(last.track_ids)
    assert (results[-2].track_ids == last.track_ids).all()


def test_without_a_tracker_there_are_no_ids(tmp_path: Path, detector: Any) -> None:
    video = write_video(tmp_path / "v.avi", 2)
    assert all(r.track_ids is None for r in detector.stream(str(video)))


def test_unknown_tracker_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown tracker"):
        make_tracker("bytetrack-from-nowhere")
