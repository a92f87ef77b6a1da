"""``edgekit predict`` on videos, image folders and a live stream stopped with Ctrl-C (subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from ..conftest import need
from .helpers import MjpegServer, frame_image, free_port, read_video, write_video


def edgekit(*args: str) -> List[str]:
    return [sys.executable, "-m", "edgekit", *args]


def test_predict_video_to_video_and_jsonl(tmp_path: Path, bundle: Path) -> None:
    video = write_video(tmp_path / "in.avi", 9)
    out, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    args = ["predict", str(bundle), str(video), "--save-video", str(out), "--jsonl", str(jsonl)]
    proc = subprocess.run(
        edgekit(*args, "--stats-every", "0.000001"), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert len(read_video(out)) == 9
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(9))
    assert [r["detections"][0]["class"] for r in records[:3]] == ["red", "green", "blue"]
    assert "done: 9 frames" in proc.stdout and "FPS" in proc.stdout


def test_predict_image_folder_prints_one_line_per_image(tmp_path: Path, bundle: Path) -> None:
    cv2 = need("cv2")
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"im{i}.png"), frame_image(i))
    proc = subprocess.run(
        edgekit("predict", str(bundle), str(folder), "--json"), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [Path(r["image"]).name for r in records] == ["im0.png", "im1.png"]
    assert records[1]["detections"][0]["class"] == "green"


def test_predict_unknown_source_is_a_one_line_error(tmp_path: Path, bundle: Path) -> None:
    proc = subprocess.run(
        edgekit("predict", str(bundle), str(tmp_path / "nothing.mp4")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error:") and len(proc.stderr.splitlines()) == 1


def test_ctrl_c_stops_a_live_stream_and_completes_the_files(tmp_path: Path, bundle: Path) -> None:
    server = MjpegServer(free_port(), fps=60)
    server.start()
    out, jsonl = tmp_path / "live.mp4", tmp_path / "live.jsonl"
    args = ["predict", str(bundle), server.url, "--save-video", str(out), "--jsonl", str(jsonl)]
    # faulthandler on: should the process hang after Ctrl-C, SIGABRT below dumps every thread's stack
    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    proc = subprocess.Popen(
        edgekit(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if jsonl.exists() and len(jsonl.read_text().splitlines()) >= 10:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            pytest.fail("no exit 30 s after Ctrl-C; stacks:\n" + proc.communicate(timeout=30)[1])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.kill()
    assert proc.returncode == 130, err
    assert "stopped (Ctrl-C)" in err
    lines = jsonl.read_text().splitlines()
    json.loads(lines[-1])  # the last line is complete
    frames = read_video(out)  # renamed from its temporary name: finished and readable
    assert len(lines) >= 10 and abs(len(frames) - len(lines)) <= 1
    assert not list(tmp_path.glob(".*tmp*"))
