"""Frame sources: images, folders, globs, video files, cameras, stream URLs, GStreamer, Picamera2.

A ``Source`` is opened, read frame by frame (``read()`` returns a HxWx3 BGR uint8 array, or None
at the end of a file or when a live source is lost) and closed. ``open_source(spec)`` picks one.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any, List, Optional, Sequence, Union

import numpy as np

from edgekit._optional import require
from edgekit.decoding.images import load_image, to_bgr8
from edgekit.errors import BackendError, InputFileError
from edgekit.pipeline.gstreamer import looks_like_gstreamer
from edgekit.vocab import IMAGE_SUFFIXES

URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")
SourceSpec = Union[str, int, Path, "Source"]


class Source:
    """Base class: ``open()``, ``read()`` -> frame or None, ``close()``.

    ``is_live``: a camera or stream (latest frame wins, reconnect when lost) rather than a file
    (every frame, stop at the end). ``name`` names the frame last read (file stem or index).
    """

    is_live = False

    def __init__(self) -> None:
        self.name = ""
        self.fps: Optional[float] = None

    def open(self) -> None:
        raise NotImplementedError

    def read(self) -> Optional[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return type(self).__name__


class ImagesSource(Source):
    """Still images: one file, a folder (recursive) or a glob, in sorted order."""

    def __init__(self, paths: Sequence[Union[str, Path]], label: str = "") -> None:
        super().__init__()
        self.paths = [Path(p) for p in paths]
        self.label = label or (str(self.paths[0]) if len(self.paths) == 1 else f"{len(self.paths)} images")
        self._next = 0

    def open(self) -> None:
        self._next = 0

    def read(self) -> Optional[np.ndarray]:
        if self._next >= len(self.paths):
            return None
        path = self.paths[self._next]
        self._next += 1
        self.name = path.stem
        return load_image(path)

    def describe(self) -> str:
        return f"images: {self.label}"


class _CvCapture(Source):
    """Shared ``cv2.VideoCapture`` handling."""

    def __init__(
        self, target: Union[str, int], api: Optional[int] = None, params: Sequence[int] = ()
    ) -> None:
        super().__init__()
        self.target = target
        self.api = api
        self.params = list(params)
        self.cap: Any = None
        self.frames = 0

    def open(self) -> None:
        cv2 = require("cv2", "cv", reason="needed to read videos and cameras")
        self.close()
        api = cv2.CAP_ANY if self.api is None else self.api
        cap = (
            cv2.VideoCapture(self.target, api, self.params)
            if self.params
            else cv2.VideoCapture(self.target, api)
        )
        if not cap.isOpened():
            cap.release()
            raise BackendError(f"cannot open {self.describe()}")
        self.cap = cap
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0.0 < fps < 1000.0 else None

    def read(self) -> Optional[np.ndarray]:
        if self.cap is None:
            return None
        ok, frame = self.cap.read()
        if not ok or frame is None:
            return None
        self.name = f"{self.frames:06d}"
        self.frames += 1
        return frame if frame.ndim == 3 and frame.shape[2] == 3 else to_bgr8(frame, self.describe())

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None


class FileSource(_CvCapture):
    """A video file, read by whatever ``cv2`` imports (every frame, in order)."""

    def __init__(self, path: Union[str, Path]) -> None:
        super().__init__(str(path))

    def open(self) -> None:
        if not Path(str(self.target)).is_file():
            raise InputFileError(self.target, "no such video file")
        try:
            super().open()
        except BackendError:
            raise InputFileError(self.target, "not a readable video") from None

    def describe(self) -> str:
        return f"video file {self.target}"


class CameraSource(_CvCapture):
    """A live source: a camera index, a stream URL (RTSP/HTTP/...) or a GStreamer launch string.

    ``timeout_ms`` bounds opening and reading network streams (FFmpeg backend), so that a
    stream that stops answering is noticed and reconnected instead of blocking forever.
    """

    is_live = True

    def __init__(
        self,
        spec: Union[int, str],
        width: Optional[int] = None,
        height: Optional[int] = None,
        fps: Optional[float] = None,
        timeout_ms: int = 5000,
    ) -> None:
        cv2 = require("cv2", "cv", reason="needed to read cameras and streams")
        api: Optional[int] = None
        params: List[int] = []
        self.kind = "camera"
        if isinstance(spec, str) and looks_like_gstreamer(spec):
            if not has_gstreamer(cv2):
                raise BackendError(
                    "this OpenCV has no GStreamer support: use the system OpenCV (JetPack's), "
                    "and do not install opencv-python over it"
                )
            api, self.kind = cv2.CAP_GSTREAMER, "GStreamer pipeline"
        elif isinstance(spec, str) and spec.lower().startswith(URL_SCHEMES):
            api, self.kind = cv2.CAP_FFMPEG, "stream"
            for prop in ("CAP_PROP_OPEN_TIMEOUT_MSEC", "CAP_PROP_READ_TIMEOUT_MSEC"):
                if hasattr(cv2, prop):
                    params += [getattr(cv2, prop), int(timeout_ms)]
        super().__init__(spec, api, params)
        self.size = (width, height)
        self.wanted_fps = fps

    def open(self) -> None:
        super().open()
        cv2 = require("cv2", "cv")
        width, height = self.size
        if self.kind == "camera":
            if width:
                self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            if height:
                self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            if self.wanted_fps:
                self.cap.set(cv2.CAP_PROP_FPS, self.wanted_fps)

    def describe(self) -> str:
        return f"{self.kind} {self.target}"


class Picamera2Source(Source):
    """A Raspberry Pi camera through ``picamera2`` (imported only when this source opens)."""

    is_live = True

    def __init__(self, camera: int = 0, width: int = 1280, height: int = 720) -> None:
        super().__init__()
        self.camera, self.width, self.height = camera, width, height
        self.cam: Any = None
        self.frames = 0

    def open(self) -> None:
        picamera2 = require("picamera2", "picamera2", reason="needed for the Raspberry Pi camera")
        self.close()
        cam = picamera2.Picamera2(self.camera)
        # picamera2's "RGB888" is stored B, G, R per pixel: OpenCV's BGR order
        config = cam.create_video_configuration(main={"size": (self.width, self.height), "format": "RGB888"})
        cam.configure(config)
        cam.start()
        self.cam = cam

    def read(self) -> Optional[np.ndarray]:
        if self.cam is None:
            return None
        try:
            frame = self.cam.capture_array("main")
        except Exception:  # noqa: BLE001 - a lost camera raises libcamera-specific errors
            return None
        self.name = f"{self.frames:06d}"
        self.frames += 1
        return to_bgr8(frame, self.describe())

    def close(self) -> None:
        if self.cam is not None:
            try:
                self.cam.stop()
                self.cam.close()
            finally:
                self.cam = None

    def describe(self) -> str:
        return f"picamera2 {self.camera}"


def has_gstreamer(cv2: Any) -> bool:
    """True when this OpenCV was built with GStreamer."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line
    return False


def image_paths(spec: str) -> List[Path]:
    """An image file, a folder (recursive) or a glob -> sorted image paths (may be empty)."""
    path = Path(spec)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if path.is_file():
        return [path] if path.suffix.lower() in IMAGE_SUFFIXES else []
    return sorted(
        Path(p) for p in glob.glob(spec, recursive=True) if Path(p).suffix.lower() in IMAGE_SUFFIXES
    )


def open_source(spec: SourceSpec, **options: Any) -> Source:
    """A ``Source`` for ``spec`` (not yet opened).

    ``0`` / ``"0"``: camera index; ``rtsp://``, ``http://``...: stream; ``"... ! appsink"``:
    GStreamer; ``"picamera2"`` or ``"picamera2:1"``: Raspberry Pi camera; a video file; an
    image file, folder or glob. ``options`` go to the camera sources (width, height, fps, timeout_ms).
    """
    if isinstance(spec, Source):
        return spec
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        return CameraSource(int(spec), **options)
    text = os.fspath(spec)
    if text.startswith("picamera2"):
        index = text.partition(":")[2]
        keep = {k: v for k, v in options.items() if k in ("width", "height")}
        return Picamera2Source(int(index) if index else 0, **keep)
    if looks_like_gstreamer(text) or text.lower().startswith(URL_SCHEMES) or text.startswith("/dev/video"):
        return CameraSource(text, **options)
    path = Path(text)
    if path.is_file() and path.suffix.lower() not in IMAGE_SUFFIXES:
        return FileSource(path)
    files = image_paths(text)
    if files:
        return ImagesSource(files, text)
    if path.is_dir() or any(c in text for c in "*?["):
        raise InputFileError(text, "no images found")
    raise InputFileError(text, "no such image, folder, glob, video file, camera or stream")
