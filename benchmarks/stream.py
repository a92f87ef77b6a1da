"""Stream pipeline overhead beyond inference, on a generated 30 FPS video file.

    python benchmarks/stream.py [--frames 300] [--size 640x480] [--input 640] [--threads 2]

A tiny real ONNX detector (the test suite's: global pooling + a fixed box table, input
``--input`` square) runs over a generated ``--size`` video (MJPG .avi at 30 FPS). Three
configurations run interleaved, three rounds each, and the table shows medians in ms/frame:

- ``detector``: ``det(frame)`` on frames already decoded in memory (preprocess + inference + decode);
- ``stream``: ``det.stream(file)``: capture thread + file decode + the same detector calls;
- ``stream+sinks``: the same plus an annotated .avi and JSON lines.

Overhead = wall ms/frame of the stream minus the inference stage's median. The tiny model's
inference is near zero, so the overhead column is what the pipeline adds to any model.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Dict, List

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgekit.decoding.images import try_cv2  # noqa: E402
from edgekit.detector import Detector  # noqa: E402
from edgekit.pipeline import JsonLinesSink, VideoSink  # noqa: E402
from edgekit.timing import Schedule, alternating  # noqa: E402
from tests.runtimes.tiny import write_tiny_bundle  # noqa: E402


def make_video(path: Path, frames: int, width: int, height: int) -> List[np.ndarray]:
    cv2 = try_cv2()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (width, height))
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    for i in range(frames):
        writer.write(np.roll(base, 4 * i, axis=1))
    writer.release()
    cap = cv2.VideoCapture(str(path))
    decoded = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        decoded.append(frame)
    return decoded


def run_stream(det: Detector, video: Path, out: Path, sinks: bool) -> Dict[str, float]:
    chosen = [VideoSink(out / "out.avi"), JsonLinesSink(out / "out.jsonl")] if sinks else []
    t0 = time.perf_counter()
    with det.stream(str(video), sinks=chosen) as stream:
        n = sum(1 for _ in stream)
    wall = (time.perf_counter() - t0) * 1e3 / n
    med = stream.stats.medians()
    return {"wall": wall, **med}


def run_detector(det: Detector, frames: List[np.ndarray]) -> Dict[str, float]:
    stages: Dict[str, List[float]] = {"preprocess": [], "inference": [], "decode": []}
    t0 = time.perf_counter()
    for frame in frames:
        det(frame)
        for k, v in stages.items():
            v.append(det.timings[k])
    wall = (time.perf_counter() - t0) * 1e3 / len(frames)
    return {"wall": wall, **{k: statistics.median(v) for k, v in stages.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--input", type=int, default=640)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        bundle = write_tiny_bundle(tmp_path / "tiny.edgekit", height=args.input, width=args.input)
        video = tmp_path / "clip.avi"
        frames = make_video(video, args.frames, width, height)
        det = Detector(bundle, threads=args.threads)
        calls = {
            "detector": partial(run_detector, det, frames),
            "stream": partial(run_stream, det, video, tmp_path, False),
            "stream+sinks": partial(run_stream, det, video, tmp_path, True),
        }
        # each call is a whole pass over the clip (its own block); the one harness rotates the order
        timed = alternating(list(calls.values()), Schedule(blocks=args.rounds, per_block=1, warmup=0))
        runs: Dict[str, List[Dict[str, float]]] = dict(zip(calls, timed))
        det.close()
    print(f"{len(frames)} frames {width}x{height} @30 FPS, model input {args.input}, {args.rounds} rounds")
    cols = [("wall ms/f", "wall"), ("infer", "inference"), ("capture", "capture")]
    cols += [("pre", "preprocess"), ("decode", "decode"), ("sinks", "sinks")]
    print(
        f"{'config':<14}" + "".join(f"{c:>10}" for c, _ in cols) + f"{'overhead':>10}{'vs det':>8}{'FPS':>8}"
    )
    print("-" * (14 + 10 * len(cols) + 26))
    base = statistics.median(r["wall"] for r in runs["detector"])
    for name, rows in runs.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        cells = "".join(f"{med[k]:>10.3f}" if k in med else f"{'-':>10}" for _, k in cols)
        overhead = med["wall"] - med["inference"]
        print(f"{name:<14}{cells}{overhead:>10.3f}{med['wall'] - base:>8.3f}{1e3 / med['wall']:>8.1f}")
    print("overhead: wall ms/frame - median inference ms; vs det: wall ms/frame - the detector row's")
    print("capture: reading + decoding the file on the capture thread (overlaps the detector's work)")


if __name__ == "__main__":
    main()
