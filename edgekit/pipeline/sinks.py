"""Where stream results go: an annotated video, an image folder, JSON lines, a window.

A sink gets ``write(result)`` per frame and ``close()`` once (also after Ctrl-C): files are
written under a temporary name and renamed on close, so a finished file is always complete.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any, Dict, Optional, Union

import numpy as np

from edgekit._optional import require
from edgekit.decoding.annotate import draw
from edgekit.errors import BackendError, InputFileError

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class StopStream(Exception):
    """Raised by a sink to end the stream (e.g. the user closed the window)."""


class Sink:
    """Base class: ``write(result)`` per frame, ``close()`` at the end."""

    def bind(self, source: Any) -> None:
        """Called once the source is open (its ``fps`` and ``describe()`` are known)."""

    def write(self, result: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class VideoSink(Sink):
    """Annotated frames into a video file (``.mp4`` mp4v, ``.avi``/``.mkv`` MJPG, or ``fourcc``).

    Opened on the first frame (its size); written to ``.<name>.tmp<suffix>`` and renamed on close.
    """

    def __init__(
        self, path: Union[str, Path], fps: Optional[float] = None, fourcc: Optional[str] = None
    ) -> None:
        self.cv2 = require("cv2", "cv", reason="needed to write video files")
        self.path = Path(path)
        self.fps = fps
        self.fourcc = fourcc or FOURCC.get(self.path.suffix.lower(), "mp4v")
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp{self.path.suffix}")
        self.writer: Any = None
        self.frames = 0

    def bind(self, source: Any) -> None:
        if self.fps is None:
            self.fps = source.fps

    def write(self, result: Any) -> None:
        image = draw(result.image, result.detections)
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            h, w = image.shape[:2]
            code = self.cv2.VideoWriter_fourcc(*self.fourcc)
            self.writer = self.cv2.VideoWriter(str(self.tmp), code, float(self.fps or 30.0), (w, h))
            if not self.writer.isOpened():
                self.writer = None
                raise InputFileError(self.path, f"cannot write a {self.fourcc} video here")
            self.size = (w, h)
        if (image.shape[1], image.shape[0]) != self.size:  # a reconnected camera may change size
            image = self.cv2.resize(image, self.size)
        self.writer.write(image)
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
            os.replace(self.tmp, self.path)


class ImageFolderSink(Sink):
    """One annotated JPEG per frame, named after the source image or the frame index."""

    def __init__(self, folder: Union[str, Path], suffix: str = ".jpg") -> None:
        self.cv2 = require("cv2", "cv", reason="needed to write annotated images")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.suffix = suffix

    def write(self, result: Any) -> None:
        path = self.folder / f"{result.name}{self.suffix}"
        tmp = path.with_name(f".{path.stem}.tmp{self.suffix}")
        if not self.cv2.imwrite(str(tmp), draw(result.image, result.detections)):
            raise InputFileError(path, "cannot write the annotated image")
        os.replace(tmp, path)


class JsonLinesSink(Sink):
    """One JSON object per frame (flushed per line): frame index, name, time, detections, stage ms.

    ``target``: a path (``-`` for stdout) or an open text stream.
    """

    def __init__(self, target: Union[str, Path, IO[str]], source: str = "") -> None:
        self.source = source
        if isinstance(target, (str, Path)) and str(target) == "-":
            self.stream: IO[str] = sys.stdout
            self.owned = False
        elif isinstance(target, (str, Path)):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            self.stream = open(target, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
            self.owned = True
        else:
            self.stream, self.owned = target, False

    def bind(self, source: Any) -> None:
        if not self.source:
            self.source = source.describe()

    def record(self, result: Any) -> Dict[str, Any]:
        return {
            "frame": result.index,
            "name": result.name,
            "source": self.source,
            "time": round(time.time(), 6),
            "detections": result.detections.to_dict(),
            "ms": {k: round(v, 3) for k, v in result.timings.items()},
        }

    def write(self, result: Any) -> None:
        self.stream.write(json.dumps(self.record(result)) + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.owned and not self.stream.closed:
            self.stream.close()
        elif not self.owned:
            self.stream.flush()


def has_display() -> bool:
    """True when a window can be shown (X11/Wayland on Linux; assumed elsewhere)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class WindowSink(Sink):
    """An on-screen window (``q`` or Esc ends the stream). Needs a display and a GUI-enabled OpenCV."""

    def __init__(self, title: str = "edgekit") -> None:
        if not has_display():
            raise BackendError("no display: --show needs X11/Wayland (DISPLAY is not set)")
        self.cv2 = require("cv2", "cv", reason="needed to show a window")
        self.title = title
        self.opened = False

    def write(self, result: Any) -> None:
        image: np.ndarray = draw(result.image, result.detections)
        try:
            self.cv2.imshow(self.title, image)
            key = self.cv2.waitKey(1) & 0xFF
        except self.cv2.error as exc:
            raise BackendError(f"cannot show a window with this OpenCV (headless build?): {exc}") from None
        self.opened = True
        if key in (ord("q"), 27):
            raise StopStream("window closed")

    def close(self) -> None:
        if self.opened:
            self.cv2.destroyWindow(self.title)
            self.opened = False
