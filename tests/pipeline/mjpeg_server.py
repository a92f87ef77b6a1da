"""A tiny MJPEG-over-HTTP server for tests: ``python mjpeg_server.py PORT [FPS]``, bound to 127.0.0.1 only.

Serves ``multipart/x-mixed-replace`` JPEG frames (a moving green bar on red, 64x128) to every
client until killed. Prints ``ready`` once listening.
"""

from __future__ import annotations

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

BOUNDARY = "edgekitframe"


def frame_jpeg(i: int) -> bytes:
    image = np.zeros((64, 128, 3), np.uint8)
    image[:, :, 2] = 220
    x = (i * 4) % 128
    image[:, x : x + 8, 1] = 255
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


class Handler(BaseHTTPRequestHandler):
    fps = 30.0

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.end_headers()
        i = 0
        try:
            while True:
                jpg = frame_jpeg(i)
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpg)}\r\n\r\n"
                self.wfile.write(head.encode() + jpg + b"\r\n")
                self.wfile.flush()
                i += 1
                time.sleep(1.0 / self.fps)
        except (BrokenPipeError, ConnectionResetError):
            return

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    port = int(sys.argv[1])
    Handler.fps = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
