"""A live MJPEG/HTTP stream on 127.0.0.1 that is killed and restarted mid-run: the pipeline reconnects."""

from __future__ import annotations

import time
from typing import Any

from ..conftest import need
from .helpers import MjpegServer, free_port


def test_http_mjpeg_stream_reconnects_after_the_server_restarts(detector: Any) -> None:
    need("cv2")
    server = MjpegServer(free_port(), fps=30)
    server.start()
    stream = detector.stream(
        server.url, backoff=(0.1, 0.5), max_retries=30, source_options={"timeout_ms": 3000}
    )
    before, after = [], []
    restarted = False
    deadline = time.monotonic() + 60
    try:
        with stream:
            for result in stream:
                assert result.image.shape == (64, 128, 3) and len(result.detections) > 0
                if not restarted:
                    before.append(result.index)
                    if len(before) == 15:
                        server.kill()  # the stream drops mid-run
                        time.sleep(1.0)  # down for a while: reconnect attempts fail
                        server.start()
                        restarted = True
                else:
                    after.append(result.index)
                    if len(after) >= 15 and stream.stats.reconnects >= 1:
                        break
                if time.monotonic() > deadline:
                    break
    finally:
        server.kill()
    assert len(before) == 15
    assert stream.stats.reconnects >= 1, "the pipeline never reconnected"
    assert len(after) >= 15, f"only {len(after)} frames after the restart"
    assert after == sorted(after) and after[0] > before[-1]
    assert not stream.capture.running
