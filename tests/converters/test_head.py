"""``convert --head one2one|one2many`` for dual-head models (YOLOv10, YOLO26).

The one-to-many bundle is checked against the real Ultralytics package: its ONNX run by
onnxruntime on the golden input reproduces the official one-to-many decode (``decoded`` of the
golden file, what ``yolo val`` scores before NMS). The head choice is recorded in the manifest and
shown by ``edgekit show`` and ``edgekit inspect``; a head the model lacks is a one-line error.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ..cli.helpers import one_line_error, run_cli
from ..conftest import need

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "ultralytics"


def _convert(tmp_path: Path, name: str, *args: str) -> Path:
    out = tmp_path / f"{name}.edgekit"
    proc = run_cli(
        "convert", str(GOLDEN / f"{name}.pt"), "--imgsz", "96x64", "--backend", "onnxruntime",
        "--no-host-io", "-o", str(out), *args, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.mark.parametrize("name", ["yolo26_tiny", "yolov10_tiny"])
def test_one2many_bundle_is_the_official_one_to_many_head(name: str, tmp_path: Path) -> None:
    ort = need("onnxruntime")
    out = _convert(tmp_path, name, "--head", "one2many")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["head"] == "one2many"
    assert manifest["decoder"]["type"] != "nms-free" and manifest["target"]["nms"] == "host"
    ref = np.load(GOLDEN / f"{name}.npz")
    session = ort.InferenceSession(str(out / manifest["artifacts"][0]["path"]))
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"images": ref["input"][:1]})))
    official = ref["decoded"][:1]  # (1, 4 + nc, N): Ultralytics' one-to-many eval output, xywh
    x1y1, x2y2 = got["boxes"][:, :2], got["boxes"][:, 2:]  # (1, 4, N) xyxy
    xywh = np.concatenate(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1)
    np.testing.assert_allclose(xywh, official[:, :4], atol=1e-3, rtol=1e-5)
    np.testing.assert_allclose(got["scores"], official[:, 4:], atol=1e-6, rtol=1e-4)
    shown = run_cli("show", str(out))
    assert "head        one2many (needs NMS) of a two-head model" in shown.stdout


def test_the_default_is_the_nms_free_head_and_recorded(tmp_path: Path) -> None:
    need("onnxruntime")
    out = _convert(tmp_path, "yolo26_tiny")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["head"] == "one2one" and manifest["decoder"]["type"] == "nms-free"


def test_one_head_models_record_none_and_refuse_the_head_they_lack(tmp_path: Path) -> None:
    need("torch")
    out = _convert(tmp_path, "yolo11_tiny", "--head", "one2many")  # its only head: accepted
    assert json.loads((out / "manifest.json").read_text())["model"]["head"] is None
    proc = run_cli("convert", str(GOLDEN / "yolo11_tiny.pt"), "--head", "one2one", "-o", str(tmp_path / "x"))
    one_line_error(proc, "yolo11_tiny.pt: --head one2one needs a model with both heads", "needs NMS")
    assert not (tmp_path / "x").exists()


def test_inspect_names_both_heads() -> None:
    need("torch")
    proc = run_cli("inspect", str(GOLDEN / "yolo26_tiny.pt"))
    assert proc.returncode == 0, proc.stderr
    assert "two heads: one2one (NMS-free, exported by default) and one2many" in proc.stdout
