"""Sources: dispatch of ``open_source``, files, images, cameras, GStreamer builders, Picamera2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import BackendError, InputFileError, MissingDependencyError
from edgekit.pipeline import gstreamer
from edgekit.pipeline.sources import (
    CameraSource,
    FileSource,
    ImagesSource,
    Picamera2Source,
    has_gstreamer,
    open_source,
)

from ..conftest import need
from .helpers import COLORS, frame_image, write_video


def test_open_source_dispatch(tmp_path: Path) -> None:
    cv2 = need("cv2")
    video = write_video(tmp_path / "clip.avi", 3)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"im{i}.png"), frame_image(i))
    assert isinstance(open_source(0), CameraSource)
    assert isinstance(open_source("1"), CameraSource) and open_source("1").target == 1
    url = open_source("rtsp://127.0.0.1:8554/cam")
    assert isinstance(url, CameraSource) and url.is_live and url.api == cv2.CAP_FFMPEG
    assert isinstance(open_source(str(video)), FileSource) and not open_source(str(video)).is_live
    images = open_source(str(folder))
    assert isinstance(images, ImagesSource) and [p.name for p in images.paths] == ["im0.png", "im1.png"]
    assert len(open_source(str(folder / "*.png")).paths) == 2
    assert isinstance(open_source("picamera2:1"), Picamera2Source) and open_source("picamera2:1").camera == 1
    with pytest.raises(InputFileError, match="no such"):
        open_source(str(tmp_path / "missing.mp4"))
    with pytest.raises(InputFileError, match="no images"):
        open_source(str(tmp_path / "*.jpg"))


def test_gstreamer_string_needs_a_gstreamer_opencv() -> None:
    cv2 = need("cv2")
    spec = gstreamer.usb_camera("/dev/video0", hw_decode=False)
    if has_gstreamer(cv2):
        src = open_source(spec)
        assert isinstance(src, CameraSource) and src.api == cv2.CAP_GSTREAMER
    else:
        with pytest.raises(BackendError, match="GStreamer"):
            open_source(spec)


def test_gstreamer_builders() -> None:
    csi = gstreamer.jetson_csi(sensor_id=1, width=1920, height=1080, fps=60, flip=2)
    assert csi.startswith("nvarguscamerasrc sensor-id=1 ! ")
    assert "width=1920, height=1080, framerate=60/1" in csi and "flip-method=2" in csi
    for spec in (
        csi,
        gstreamer.usb_camera(hw_decode=True),
        gstreamer.usb_camera(hw_decode=False),
        gstreamer.usb_camera(mjpeg=False),
        gstreamer.rtsp("rtsp://cam/1", hw_decode=False),
    ):
        assert spec.endswith("appsink drop=1 max-buffers=1 sync=false")
        assert "format=BGR !" in spec and gstreamer.looks_like_gstreamer(spec)
    assert "nvv4l2decoder mjpeg=1" in gstreamer.usb_camera(hw_decode=True)
    assert "jpegdec" in gstreamer.usb_camera(hw_decode=False)
    assert "image/jpeg" not in gstreamer.usb_camera(mjpeg=False)
    assert "avdec_h265" in gstreamer.rtsp("rtsp://cam/1", codec="h265", hw_decode=False)
    with pytest.raises(ValueError):
        gstreamer.rtsp("rtsp://cam/1", codec="mpeg2")


def test_file_source_reads_every_frame_then_ends(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", 7, fps=25.0)
    src = open_source(str(video))
    src.open()
    frames = []
    while True:
        frame = src.read()
        if frame is None:
            break
        frames.append(frame)
    src.close()
    assert len(frames) == 7 and src.fps == pytest.approx(25.0)
    for i, frame in enumerate(frames):  # MJPEG is lossy: the colour, not exact pixels
        assert np.abs(frame.mean((0, 1)) - np.array(COLORS[i % 3])).max() < 8


def test_file_source_rejects_a_non_video(tmp_path: Path) -> None:
    need("cv2")
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    with pytest.raises(InputFileError, match="not a readable video"):
        FileSource(bad).open()


def test_images_source_names_frames_after_files(tmp_path: Path) -> None:
    cv2 = need("cv2")
    for name in ("b", "a"):
        cv2.imwrite(str(tmp_path / f"{name}.png"), frame_image(0))
    src = open_source(str(tmp_path))
    src.open()
    names = []
    while src.read() is not None:
        names.append(src.name)
    assert names == ["a", "b"]


def test_camera_that_is_not_there_fails_to_open() -> None:
    need("cv2")
    with pytest.raises(BackendError, match="cannot open"):
        CameraSource("http://127.0.0.1:9/none.mjpg", timeout_ms=1000).open()


def test_picamera2_is_imported_only_when_opened() -> None:
    src = open_source("picamera2")
    try:
        import picamera2  # noqa: F401
    except ImportError:
        with pytest.raises(MissingDependencyError, match="picamera2"):
            src.open()
    else:  # pragma: no cover - only on a Raspberry Pi
        pytest.skip("picamera2 installed: opening would use a real camera")
