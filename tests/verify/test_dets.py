"""``Dets``: the verification module's view of detections, zero detections included."""

from __future__ import annotations

import numpy as np

from edgekit.decoding.detections import Detections
from edgekit.verify import Dets


def test_pose_detections_with_none_kept_become_empty_points() -> None:
    """A pose model that keeps nothing on an image (the YOLO26 pose fixture at 96 px): (0, K, 3)
    keypoints give (0, 2K) points, not a reshape error."""
    none = Detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int), keypoints=np.zeros((0, 4, 3)))
    dets = Dets.of(none)
    assert len(dets) == 0 and dets.points is not None and dets.points.shape == (0, 8)
    assert dets.coords.shape == (0, 12)
    points = np.arange(24.0).reshape(2, 4, 3)
    two = Detections(np.ones((2, 4)), np.ones(2), np.zeros(2, int), keypoints=points)
    assert Dets.of(two).points.tolist()[0] == [0, 1, 3, 4, 6, 7, 9, 10]
