"""What ``edgekit convert`` prints: no third-party chatter unless --verbose (TFLite pulls in
TensorFlow, absl, torchao and LiteRT), and in a terminal one live line per long step."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import need
from .helpers import run_cli

pytestmark = pytest.mark.slow
TINY = Path(__file__).resolve().parents[1] / "data" / "golden" / "ultralytics" / "yolo11_tiny.pt"
# what LiteRT / TensorFlow / absl print natively while lowering and loading a .tflite
CHATTER = ("absl::InitializeLog", "oneDNN custom operations", "XNNPACK delegate")


def test_tflite_conversion_is_quiet_unless_verbose(tmp_path: Path) -> None:
    need("torch")
    need("ai_edge_litert")
    args = ["convert", str(TINY), "--target", "rpi5", "--backend", "tflite", "--imgsz", "96"]
    quiet = run_cli(*args, "-o", str(tmp_path / "q.edgekit"), timeout=600)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr.strip() == "", quiet.stderr
    checked = next(ln for ln in quiet.stdout.splitlines() if ln.startswith("verified tflite fp32"))
    assert "worst output " in checked and "cosine" not in checked  # one figure against its own bound
    # the pass table has no per-pass timing; one line times train vs inference form together
    assert "CPU ms" not in quiet.stdout
    assert "alternating warmed blocks of 3): train form " in quiet.stdout
    loud = run_cli(*args, "-o", str(tmp_path / "v.edgekit"), "--verbose", timeout=600)
    assert loud.returncode == 0, loud.stderr
    shown = [c for c in CHATTER if c in loud.stderr]
    assert shown, loud.stderr  # the same conversion does print them: the quiet run held them back


def test_a_terminal_gets_a_live_line_per_step(tmp_path: Path) -> None:
    need("torch")
    need("onnxruntime")
    master, slave = os.openpty()
    cmd = [sys.executable, "-m", "edgekit", "convert", str(TINY), "--imgsz", "96", "--backend", "onnxruntime"]
    proc = subprocess.Popen([*cmd, "-o", str(tmp_path / "t.edgekit")], stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    out = proc.communicate(timeout=300)[0].decode()
    os.close(master)
    assert proc.returncode == 0 and "wrote " in out
    text = seen.decode(errors="replace")
    for step in ("reading yolo11_tiny.pt", "reparameterizing", "exporting ONNX", "verifying"):
        assert step in text, (step, text[-2000:])
    assert "0:00:" in text  # the elapsed time beside each step
