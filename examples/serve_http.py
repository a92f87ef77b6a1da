"""Serve a bundle over HTTP with the standard library: POST an image, get its detections as JSON.

    python examples/serve_http.py model-cpu.edgekit --port 8000
    curl --data-binary @street.jpg http://127.0.0.1:8000/detect

``GET /health`` names the model and backend; ``POST /detect`` takes JPEG/PNG bytes (decoded with
OpenCV) and answers ``{"detections": [{"box", "confidence", "class_id", "class"}], "ms": {...}}``.
One ``Detector`` serves every request, one inference at a time. The same handler body fits a
FastAPI or Flask route.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, List, Optional

import numpy as np

import edgekit
from edgekit.decoding.images import try_cv2


def make_server(bundle: str, host: str = "127.0.0.1", port: int = 8000, threads: Optional[int] = None):
    """An HTTP server (not started) answering ``/health`` and ``/detect`` for ``bundle``."""
    det = edgekit.Detector(bundle, threads=threads)
    cv2 = try_cv2()
    lock = threading.Lock()
    model = f"{det.manifest.model.family} {det.manifest.model.variant}"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/health":
                return self.reply(404, {"error": "unknown path; POST images to /detect"})
            return self.reply(200, {"model": model, "backend": det.backend, "classes": list(det.class_names)})

        def do_POST(self) -> None:
            if self.path != "/detect":
                return self.reply(404, {"error": "unknown path; POST images to /detect"})
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
            if image is None:
                return self.reply(400, {"error": "the body is not a JPEG or PNG image"})
            with lock:
                result = det(image)
                timings = dict(det.timings)
            return self.reply(200, {"detections": result.to_dict(), "ms": timings})

        def reply(self, status: int, body: Any) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # one line per request, on stderr
            print(f"{self.address_string()} {format % args}", flush=True)

    if cv2 is None:
        raise SystemExit('decoding images needs OpenCV: pip install "edgekit-detect[cv]"')
    return ThreadingHTTPServer((host, port), Handler)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", help="a bundle folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0: any free port")
    parser.add_argument("--threads", type=int, help="inference threads")
    args = parser.parse_args(argv)
    server = make_server(args.bundle, args.host, args.port, args.threads)
    print(f"serving {args.bundle} on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
