"""Camera and video pipelines: sources, a capture thread, sinks, live stats (on-device: numpy + cv2)."""

from __future__ import annotations

from edgekit.pipeline.capture import Capture, Frame, SourceLostError
from edgekit.pipeline.gstreamer import jetson_csi, rtsp, usb_camera
from edgekit.pipeline.pipeline import Stream, StreamResult, run_pipeline
from edgekit.pipeline.sinks import ImageFolderSink, JsonLinesSink, Sink, StopStream, VideoSink, WindowSink
from edgekit.pipeline.sources import (
    CameraSource,
    FileSource,
    ImagesSource,
    Picamera2Source,
    Source,
    open_source,
)
from edgekit.pipeline.stats import StreamStats

__all__ = [
    "CameraSource",
    "Capture",
    "FileSource",
    "Frame",
    "ImageFolderSink",
    "ImagesSource",
    "JsonLinesSink",
    "Picamera2Source",
    "Sink",
    "Source",
    "SourceLostError",
    "StopStream",
    "Stream",
    "StreamResult",
    "StreamStats",
    "VideoSink",
    "WindowSink",
    "jetson_csi",
    "open_source",
    "rtsp",
    "run_pipeline",
    "usb_camera",
]
