"""Optional multi-object tracking: an adapter to a well-kept library, never a core dependency.

``NorfairTracker`` wraps `norfair <https://github.com/tryolabs/norfair>`_ (``pip install
"edgekit-detect[track]"``): pure Python on numpy/scipy/filterpy, no OpenCV dependency, so it cannot
shadow JetPack's OpenCV. (Trackers built on ``supervision`` pull ``opencv-python``: not used.)
Norfair pins numpy < 2, which is what JetPack ships.

>>> for result in det.stream("cam.mp4", tracker=NorfairTracker()):
...     print(result.track_ids)   # one id per detection, -1 while a track is not confirmed
"""

from __future__ import annotations

from typing import Any, Dict

import numpy as np

from edgekit._optional import require
from edgekit.decoding.detections import Detections


class NorfairTracker:
    """IoU tracking of boxes per class; ``update`` returns a track id per detection (-1: none yet)."""

    def __init__(
        self, iou_threshold: float = 0.3, hit_counter_max: int = 15, initialization_delay: int = 2
    ) -> None:
        norfair = require("norfair", "track", reason="needed for tracking")
        self._norfair = norfair
        self.tracker = norfair.Tracker(
            distance_function="iou",
            distance_threshold=1.0 - iou_threshold,  # norfair's IoU distance is 1 - IoU
            hit_counter_max=hit_counter_max,
            initialization_delay=initialization_delay,
        )

    def update(self, detections: Detections) -> np.ndarray:
        det_cls = self._norfair.Detection
        items = [
            det_cls(
                points=box.reshape(2, 2).astype(np.float64), scores=np.array([conf, conf]), label=int(cls)
            )
            for box, conf, cls in detections
        ]
        by_object: Dict[int, int] = {id(d): i for i, d in enumerate(items)}
        ids = np.full(len(detections), -1, dtype=np.int64)
        for obj in self.tracker.update(detections=items):
            index = by_object.get(id(obj.last_detection))
            if index is not None and obj.id is not None:
                ids[index] = int(obj.id)
        return ids


def make_tracker(spec: Any) -> Any:
    """``"norfair"`` -> a ``NorfairTracker``; any object with ``update(detections)`` is used as is."""
    if spec == "norfair":
        return NorfairTracker()
    if hasattr(spec, "update"):
        return spec
    raise ValueError(f"unknown tracker {spec!r}: use 'norfair' or an object with update(detections)")
