"""Test helpers: generated videos, a synthetic live source, and the MJPEG server subprocess."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

import numpy as np

from edgekit.pipeline.sources import Source

from ..conftest import need

SERVER = Path(__file__).with_name("mjpeg_server.py")
COLORS = [(0, 0, 220), (0, 220, 0), (220, 0, 0)]  # BGR: red, green, blue frames


def frame_image(i: int, height: int = 64, width: int = 128) -> np.ndarray:
    """Frame ``i``: solid red/green/blue in turn (the tiny model's top class follows the colour)."""
    image = np.empty((height, width, 3), np.uint8)
    image[:] = COLORS[i % 3]
    return image


def write_video(path: Path, frames: int, fps: float = 30.0, height: int = 64, width: int = 128) -> Path:
    """A generated video file (MJPG in .avi, mp4v in .mp4)."""
    cv2 = need("cv2")
    fourcc = "MJPG" if path.suffix == ".avi" else "mp4v"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened()
    for i in range(frames):
        writer.write(frame_image(i, height, width))
    writer.release()
    return path


def read_video(path: Path) -> List[np.ndarray]:
    cv2 = need("cv2")
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


class CounterSource(Source):
    """A live source producing numbered frames (the number in pixel [0, 0, 0]) at ``fps``.

    After ``fail_after`` frames it reports the source lost once; the next ``failed_opens``
    reopen attempts fail (a camera that disappears and comes back).
    """

    is_live = True

    def __init__(
        self, fps: float = 500.0, fail_after: Optional[int] = None, failed_opens: int = 0, height: int = 8
    ) -> None:
        super().__init__()
        self.period = 1.0 / fps
        self.fail_after = fail_after
        self.failed_opens = failed_opens
        self.height = height
        self.count = 0
        self.opens = 0
        self.closed = 0
        self.is_open = False

    def open(self) -> None:
        self.opens += 1
        if self.opens > 1 and self.failed_opens > 0:
            self.failed_opens -= 1
            raise OSError("camera not there")
        self.is_open = True

    def read(self) -> Optional[np.ndarray]:
        if not self.is_open:
            return None
        if self.fail_after is not None and self.count == self.fail_after:
            self.fail_after = None
            self.is_open = False
            return None
        time.sleep(self.period)
        image = np.zeros((self.height, 16, 3), np.uint8)
        image[0, 0, 0] = self.count % 256
        self.name = str(self.count)
        self.count += 1
        return image

    def close(self) -> None:
        self.closed += 1
        self.is_open = False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MjpegServer:
    """``mjpeg_server.py`` in a subprocess on 127.0.0.1:``port``; ``start()``/``kill()`` repeatedly."""

    def __init__(self, port: int, fps: float = 30.0) -> None:
        self.port = port
        self.fps = fps
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), str(self.port), str(self.fps)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # wait until it accepts connections
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"MJPEG server exited: {self.proc.stderr.read() if self.proc.stderr else ''}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError("MJPEG server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
            self.proc = None
