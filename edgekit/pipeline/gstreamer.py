"""Ready-made GStreamer pipeline strings for ``cv2.VideoCapture(..., cv2.CAP_GSTREAMER)``.

Every pipeline ends in ``appsink drop=1 max-buffers=1 sync=false``: the newest frame wins, the
camera never stalls on a slow consumer. They need an OpenCV built with GStreamer (JetPack's is).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

APPSINK = "appsink drop=1 max-buffers=1 sync=false"
TO_BGR = "videoconvert ! video/x-raw, format=BGR"


def is_jetson() -> bool:
    """True on an NVIDIA Jetson (L4T release file present)."""
    return Path("/etc/nv_tegra_release").exists()


def jetson_csi(sensor_id: int = 0, width: int = 1280, height: int = 720, fps: int = 30, flip: int = 0) -> str:
    """A Jetson CSI camera (``nvarguscamerasrc``), scaled and flipped by ``nvvidconv`` in hardware.

    ``flip`` is nvvidconv's ``flip-method`` (0 none, 2 rotate 180, 4 horizontal, 6 vertical).
    """
    return (
        f"nvarguscamerasrc sensor-id={int(sensor_id)} ! "
        f"video/x-raw(memory:NVMM), width={int(width)}, height={int(height)}, "
        f"framerate={int(fps)}/1, format=NV12 ! "
        f"nvvidconv flip-method={int(flip)} ! video/x-raw, format=BGRx ! {TO_BGR} ! {APPSINK}"
    )


def usb_camera(
    device: str = "/dev/video0",
    width: int = 640,
    height: int = 480,
    fps: int = 30,
    mjpeg: bool = True,
    hw_decode: Optional[bool] = None,
) -> str:
    """A V4L2 (USB) camera; MJPEG decoded by ``nvv4l2decoder`` on a Jetson (``hw_decode=None``: auto)."""
    if hw_decode is None:
        hw_decode = is_jetson()
    size = f"width={int(width)}, height={int(height)}, framerate={int(fps)}/1"
    src = f"v4l2src device={device}"
    if not mjpeg:
        return f"{src} ! video/x-raw, {size} ! {TO_BGR} ! {APPSINK}"
    if hw_decode:
        return (
            f"{src} io-mode=2 ! image/jpeg, {size} ! nvv4l2decoder mjpeg=1 ! "
            f"nvvidconv ! video/x-raw, format=BGRx ! {TO_BGR} ! {APPSINK}"
        )
    return f"{src} ! image/jpeg, {size} ! jpegdec ! {TO_BGR} ! {APPSINK}"


def rtsp(url: str, latency: int = 200, codec: str = "h264", hw_decode: Optional[bool] = None) -> str:
    """An RTSP camera (H.264/H.265), decoded by ``nvv4l2decoder`` on a Jetson, ``avdec_*`` elsewhere."""
    if codec not in ("h264", "h265"):
        raise ValueError(f"codec must be h264 or h265, not {codec!r}")
    if hw_decode is None:
        hw_decode = is_jetson()
    depay = f"rtp{codec}depay ! {codec}parse"
    if hw_decode:
        decode = f"nvv4l2decoder ! nvvidconv ! video/x-raw, format=BGRx ! {TO_BGR}"
    else:
        decode = f"avdec_{codec} ! {TO_BGR}"
    return f"rtspsrc location={url} latency={int(latency)} ! {depay} ! {decode} ! {APPSINK}"


def looks_like_gstreamer(spec: str) -> bool:
    """A GStreamer launch string: elements joined by ``!``."""
    return " ! " in spec or spec.rstrip().endswith("appsink")
