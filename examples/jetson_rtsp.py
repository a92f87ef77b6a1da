"""A Jetson RTSP camera with tracking: hardware decoding through GStreamer, an annotated video out.

    python examples/jetson_rtsp.py model-jetson.edgekit rtsp://camera/stream --save-video out.mp4

On a Jetson, JetPack's OpenCV has GStreamer: an ``rtsp://`` URL is read through
``nvv4l2decoder`` (``edgekit.pipeline.gstreamer.rtsp``); elsewhere OpenCV opens the URL itself.
Tracking uses norfair (``pip install "edgekit-detect[track]"``) when it is installed, else the
small IoU tracker below: any object with ``update(detections) -> ids`` will do.
"""

from __future__ import annotations

import argparse
import importlib.util
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

import edgekit
from edgekit.decoding.images import try_cv2
from edgekit.pipeline import VideoSink
from edgekit.pipeline.gstreamer import rtsp
from edgekit.pipeline.sources import has_gstreamer


class IouTracker:
    """Keeps the id of the box of the same class that overlaps a new box most (IoU >= ``min_iou``)."""

    def __init__(self, min_iou: float = 0.3) -> None:
        self.min_iou = min_iou
        self.tracks: Dict[int, Tuple[np.ndarray, int]] = {}
        self.next_id = 0

    def update(self, detections: Any) -> np.ndarray:
        ids = np.full(len(detections), -1, dtype=np.int64)
        kept: Dict[int, Tuple[np.ndarray, int]] = {}
        for i, (box, _score, cls) in enumerate(detections):
            free = [(iou(box, b), t) for t, (b, c) in self.tracks.items() if c == cls and t not in kept]
            best, track = max(free, default=(0.0, -1))
            if best < self.min_iou:
                track, self.next_id = self.next_id, self.next_id + 1
            ids[i] = track
            kept[track] = (box, cls)
        self.tracks = kept
        return ids


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return float(w * h / union) if union > 0 else 0.0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", help="a bundle folder (model-jetson.edgekit)")
    parser.add_argument("source", help="rtsp://..., a video file, a camera index or a GStreamer string")
    parser.add_argument("--save-video", help="write the annotated stream here (.mp4)")
    parser.add_argument("--max-frames", type=int, help="stop after this many frames")
    parser.add_argument("--backend", help="default: the bundle's (TensorRT on the board)")
    parser.add_argument("--tracker", choices=("auto", "norfair", "iou"), default="auto")
    args = parser.parse_args(argv)

    source = args.source
    cv2 = try_cv2()
    if source.startswith("rtsp://") and cv2 is not None and has_gstreamer(cv2):
        source = rtsp(source)  # hardware decoding on a Jetson, avdec elsewhere
    use_norfair = args.tracker == "norfair" or (
        args.tracker == "auto" and importlib.util.find_spec("norfair") is not None
    )
    tracker: Any = "norfair" if use_norfair else IouTracker()

    det = edgekit.Detector(args.bundle, backend=args.backend)
    sinks = [VideoSink(args.save_video)] if args.save_video else []
    stream = det.stream(source, sinks=sinks, tracker=tracker, max_frames=args.max_frames, stats_every=10)
    with stream, stream.stop_on_sigint():
        for result in stream:
            tracks = [f"{name}#{int(t)}" for name, t in zip(result.detections.names, result.track_ids)]
            print(f"frame {result.index}: {' '.join(tracks) or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
