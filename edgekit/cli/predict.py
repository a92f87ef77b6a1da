"""``edgekit predict``: run a bundle on images, a video, a camera, a stream URL or a GStreamer pipeline."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import click

from edgekit.errors import InputFileError


def expand_source(source: str) -> List[Path]:
    """An image file, a folder (recursive) or a glob -> sorted image paths."""
    from edgekit.pipeline.sources import image_paths

    files = image_paths(source)
    if not files and not Path(source).exists() and not any(c in source for c in "*?["):
        raise InputFileError(source, "no such image, folder or glob")
    if not files:
        raise InputFileError(source, "no images found")
    return files


def summary(result: Any) -> str:
    counts: Dict[str, int] = {}
    for name in result.detections.names:
        counts[name] = counts.get(name, 0) + 1
    found = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing"
    t = result.timings
    return f"{found} ({t['preprocess']:.1f}+{t['inference']:.1f}+{t['decode']:.1f} ms pre+infer+decode)"


@click.command("predict")
@click.argument("bundle", type=click.Path())
@click.argument("source")
@click.option("--conf", type=float, help="Confidence threshold (default: the bundle's).")
@click.option("--iou", type=float, help="NMS IoU threshold (default: the bundle's).")
@click.option("--max-det", type=int, help="Detections per image at most.")
@click.option("--classes", help="Comma-separated class names or ids to keep.")
@click.option("--backend", help="Which of the bundle's models to run.")
@click.option("--threads", type=int, help="Inference threads.")
@click.option("--save", type=click.Path(path_type=Path), help="Write annotated images into this folder.")
@click.option("--save-video", type=click.Path(path_type=Path), help="Write an annotated video (.mp4/.avi).")
@click.option("--jsonl", type=click.Path(), help="Write one JSON line per frame to this file ('-': stdout).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per image or frame.")
@click.option("--show", is_flag=True, help="Show annotated frames in a window (needs a display).")
@click.option("--max-frames", type=int, help="Stop after this many frames.")
@click.option(
    "--stats-every",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds between stats lines (0: never).",
)
def predict(
    bundle: str,
    source: str,
    conf: Optional[float],
    iou: Optional[float],
    max_det: Optional[int],
    classes: Optional[str],
    backend: Optional[str],
    threads: Optional[int],
    save: Optional[Path],
    save_video: Optional[Path],
    jsonl: Optional[str],
    as_json: bool,
    show: bool,
    max_frames: Optional[int],
    stats_every: float,
) -> None:
    """Detect objects with BUNDLE in SOURCE.

    SOURCE: an image, folder or glob; a video file; a camera index (0); a stream URL
    (rtsp://, http://); a GStreamer pipeline ending in appsink; or picamera2[:N].
    Live sources reconnect when lost; Ctrl-C stops cleanly and completes the output files.
    """
    from edgekit.detector import Detector
    from edgekit.pipeline import ImagesSource
    from edgekit.pipeline.sources import open_source

    wanted = None
    if classes:
        wanted = [int(c) if c.strip().isdigit() else c.strip() for c in classes.split(",")]
    src = open_source(source)
    still = isinstance(src, ImagesSource)
    sinks = _sinks(source, show, save, save_video, jsonl)
    det = Detector(
        bundle, backend=backend, threads=threads, conf=conf, iou=iou, max_det=max_det, classes=wanted
    )
    if det.note:
        click.echo(f"note: {det.note}", err=True)
    echo = (lambda line: click.echo(line, err=True)) if as_json or jsonl == "-" else click.echo
    stream = det.stream(
        src,
        sinks=sinks,
        max_frames=max_frames,
        stats_every=None if still else (stats_every or None),
        echo=echo,
    )
    _run(stream, src, still, as_json, det)


def _sinks(
    source: str, show: bool, save: Optional[Path], save_video: Optional[Path], jsonl: Optional[str]
) -> List[Any]:
    """The outputs the options ask for: a window first (it may fail without a display)."""
    from edgekit.pipeline import ImageFolderSink, JsonLinesSink, VideoSink, WindowSink

    sinks: List[Any] = []
    if show:
        sinks.append(WindowSink(f"edgekit: {source}"))
    if save:
        sinks.append(ImageFolderSink(save))
    if save_video:
        sinks.append(VideoSink(save_video))
    if jsonl:
        sinks.append(JsonLinesSink(jsonl, source))
    return sinks


def _run(stream: Any, src: Any, still: bool, as_json: bool, det: Any) -> None:
    """Print each result; Ctrl-C stops after the current frame with exit status 130."""
    try:
        # Ctrl-C ends the loop after the current frame: no KeyboardInterrupt raised inside a queue
        # or a sink, where it can leave a lock held and the exit hanging
        with stream, stream.stop_on_sigint():
            for result in stream:
                label = str(src.paths[result.index]) if still else f"frame {result.index}"
                if as_json:
                    record = {"image" if still else "frame": label if still else result.index}
                    record.update({"detections": result.detections.to_dict(), "ms": result.timings})
                    click.echo(json.dumps(record))
                elif still:
                    click.echo(f"{label}: {summary(result)}")
        if stream.interrupted:
            click.echo(f"stopped (Ctrl-C): {stream.stats.line()}", err=True)
            sys.exit(130)
    except KeyboardInterrupt:  # a second Ctrl-C
        click.echo(f"stopped (Ctrl-C): {stream.stats.line()}", err=True)
        sys.exit(130)
    finally:
        det.close()
