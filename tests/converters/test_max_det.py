"""``--max-det`` is the NMS-free head's top-k in the graph, not only a number in the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")  # the converter side (the device suite runs without torch)
ort = pytest.importorskip("onnxruntime")

from edgekit.detector import Detector  # noqa: E402

from ..cli.helpers import run_cli  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "fixtures" / "yolo26-shapes.pt"


@pytest.mark.parametrize("max_det", [1000, 50])
def test_max_det_sets_the_graphs_top_k(tmp_path: Path, max_det: int) -> None:
    out = tmp_path / f"yolo26-{max_det}.edgekit"
    args = ["convert", str(FIXTURE), "--target", "cpu", "--backend", "onnxruntime", "--imgsz", "320"]
    proc = run_cli(*args, "--max-det", str(max_det), "--output", str(out), timeout=600)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["decoder"]["max_det"] == max_det
    session = ort.InferenceSession(
        str(out / manifest["artifacts"][0]["path"]), providers=["CPUExecutionProvider"]
    )
    shapes = [o.shape for o in session.get_outputs()]
    assert any(len(s) == 3 and s[1] == max_det for s in shapes), shapes  # (1, max_det, 6) from the graph
    image = np.random.default_rng(0).integers(0, 255, (360, 480, 3), dtype=np.uint8)
    with Detector(out) as det:
        result = det(image, conf=0.0)
    assert len(result) == max_det  # every top-k row of the graph reaches the user at conf 0
