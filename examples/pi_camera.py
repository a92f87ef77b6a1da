"""A Raspberry Pi camera loop: the detections of every frame, printed and logged as JSON lines.

    python examples/pi_camera.py model-rpi5.edgekit                      # the Pi camera (picamera2)
    python examples/pi_camera.py model-rpi5.edgekit --source /dev/video0 --jsonl frames.jsonl

The bundle comes from ``edgekit convert model.pt --target rpi5`` on a workstation; on the Pi,
``pip install "edgekit-detect[tflite]"`` (or ``[openvino]``, ``[onnx]``) and ``picamera2`` from
Raspberry Pi OS. Ctrl-C ends the loop after the current frame; the log is complete.
"""

from __future__ import annotations

import argparse
from typing import List, Optional

import edgekit
from edgekit.pipeline import JsonLinesSink


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", help="a bundle folder (model-rpi5.edgekit)")
    parser.add_argument("--source", default="picamera2", help="picamera2, a camera index, a video file, ...")
    parser.add_argument("--jsonl", help="also write one JSON line per frame here")
    parser.add_argument("--max-frames", type=int, help="stop after this many frames")
    parser.add_argument("--threads", type=int, default=4, help="inference threads (a Pi has 4 cores)")
    parser.add_argument("--conf", type=float, help="confidence threshold (default: the bundle's)")
    args = parser.parse_args(argv)

    det = edgekit.Detector(args.bundle, threads=args.threads)
    sinks = [JsonLinesSink(args.jsonl)] if args.jsonl else []
    overrides = {} if args.conf is None else {"conf": args.conf}
    stream = det.stream(args.source, sinks=sinks, max_frames=args.max_frames, **overrides)
    with stream, stream.stop_on_sigint():
        for result in stream:
            found = ", ".join(sorted(set(result.detections.names))) or "nothing"
            ms = result.timings["inference"]
            print(f"frame {result.index}: {len(result.detections)} ({found}) {ms:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
