"""The scripts in ``examples/`` run, on generated inputs.

One bundle is made by ``examples/convert_folder.py`` (the committed YOLO11 fixture at 320,
onnxruntime only, beside a broken checkpoint that must fail alone); the camera and RTSP
examples read a video written with ``cv2.VideoWriter`` from a generated image that drifts a few
pixels a frame (so the tracker has something to keep); the HTTP example is served on 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict

import pytest

from ..conftest import need

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FIXTURE = ROOT / "tests" / "data" / "fixtures" / "yolo11-shapes.pt"
FRAMES = 12


def run_example(name: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, object]:
    """The folder conversion's run and bundle, generated images and a video made from one of them."""
    need("torch")
    need("onnxruntime")
    cv2 = need("cv2")
    import numpy as np

    from edgekit.testing import SceneConfig, generate

    root = tmp_path_factory.mktemp("examples")
    checkpoints = root / "checkpoints"
    checkpoints.mkdir()
    shutil.copy(FIXTURE, checkpoints / FIXTURE.name)
    (checkpoints / "broken.pt").write_bytes(b"not a checkpoint")
    out = root / "bundles"
    args = [
        str(checkpoints),
        "--target",
        "cpu",
        "--imgsz",
        "320",
        "--backend",
        "onnxruntime",
        "--out",
        str(out),
    ]
    converted = run_example("convert_folder.py", *args)

    # a few large objects: the small fixture finds them in every frame, so ids can be kept
    scene = SceneConfig(
        min_objects=3, max_objects=5, min_size=48, max_size=96, small_share=0, max_distractors=0
    )
    generate(root / "shapes", 0, 0, 4, seed=7, imgsz=320, config=scene)
    images = sorted((root / "shapes" / "images" / "test").glob("*.jpg"))
    video = root / "drift.avi"
    first = cv2.imread(str(images[0]))
    writer = cv2.VideoWriter(
        str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (first.shape[1], first.shape[0])
    )
    for i in range(FRAMES):  # the same scene drifting 2 px a frame: objects to track
        writer.write(np.roll(first, 2 * i, axis=1))
    writer.release()
    return {
        "converted": converted,
        "bundle": out / "yolo11-shapes-cpu.edgekit",
        "images": images,
        "video": video,
        "root": root,
    }


def test_convert_folder_converts_each_checkpoint_and_reports_the_broken_one(work: Dict[str, object]) -> None:
    proc = work["converted"]
    assert proc.returncode == 1, proc.stderr  # one checkpoint failed
    lines = proc.stdout.splitlines()
    assert any(ln.startswith("broken.pt: failed: ") for ln in lines), proc.stdout
    ok = next(ln for ln in lines if ln.startswith("yolo11-shapes.pt -> "))
    assert "ultralytics yolo11-shapes, 8 classes; onnxruntime fp32" in ok, ok
    assert (work["bundle"] / "manifest.json").is_file()


def test_pi_camera_loop_on_a_video(work: Dict[str, object]) -> None:
    log = work["root"] / "frames.jsonl"
    args = [str(work["bundle"]), "--source", str(work["video"]), "--jsonl", str(log), "--threads", "2"]
    proc = run_example("pi_camera.py", *args)
    assert proc.returncode == 0, proc.stderr
    frames = [ln for ln in proc.stdout.splitlines() if ln.startswith("frame ")]
    assert len(frames) == FRAMES, proc.stdout
    assert all(" ms" in ln and "nothing" not in ln for ln in frames), frames
    records = [json.loads(ln) for ln in log.read_text().splitlines()]
    assert len(records) == FRAMES and records[0]["detections"], records[0]


def test_jetson_rtsp_example_tracks_objects_in_a_video(work: Dict[str, object]) -> None:
    saved = work["root"] / "tracked.mp4"
    args = [str(work["bundle"]), str(work["video"]), "--save-video", str(saved), "--tracker", "iou"]
    proc = run_example("jetson_rtsp.py", *args)
    assert proc.returncode == 0, proc.stderr
    frames = [ln.split(": ", 1)[1].split() for ln in proc.stdout.splitlines() if ln.startswith("frame ")]
    assert len(frames) == FRAMES, proc.stdout
    first, last = set(frames[0]), set(frames[-1])
    assert len(first) >= 2 and len(first & last) >= len(first) - 1, (frames[0], frames[-1])  # ids kept
    assert saved.is_file() and saved.stat().st_size > 0


def test_http_endpoint_serves_detections(work: Dict[str, object]) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLES / "serve_http.py"),
            str(work["bundle"]),
            "--port",
            "0",
            "--threads",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = proc.stdout.readline()  # "serving BUNDLE on http://127.0.0.1:PORT"
        assert banner.startswith("serving "), banner + proc.stderr.read()
        url = banner.split(" on ")[1].strip()
        with urllib.request.urlopen(f"{url}/health", timeout=30) as reply:
            health = json.loads(reply.read())
        assert health["backend"] == "onnxruntime" and len(health["classes"]) == 8, health
        image = work["images"][0].read_bytes()
        with urllib.request.urlopen(urllib.request.Request(f"{url}/detect", data=image), timeout=60) as reply:
            body = json.loads(reply.read())
        assert body["detections"] and set(body["detections"][0]) == {"box", "confidence", "class_id", "class"}
        assert set(body["ms"]) == {"preprocess", "inference", "decode"}
        with pytest.raises(urllib.error.HTTPError) as bad:
            urllib.request.urlopen(urllib.request.Request(f"{url}/detect", data=b"not an image"), timeout=30)
        assert bad.value.code == 400
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
