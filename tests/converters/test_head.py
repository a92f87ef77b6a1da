"""``convert --head one2one|one2many`` for dual-head models (YOLOv10, YOLO26).

The one-to-many bundle is checked against the real Ultralytics package: its ONNX run by
onnxruntime on the golden input reproduces the official one-to-many decode (``decoded`` of the
golden file, what ``yolo val`` scores before NMS). The head choice is recorded in the manifest and
shown by ``edgekit show`` and ``edgekit inspect``; a head the model lacks is a one-line error.
"""

from __future__ import annotations

import dataclasses
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


FIXTURES = GOLDEN.parents[1] / "fixtures"


def test_val_reports_both_heads_with_figures_edgekit_val_reproduces(tmp_path: Path) -> None:
    """``convert --val`` on a trained dual-head model (no ``--head``): both heads scored and timed; the
    one-to-many figure is what ``edgekit val`` gives a bundle converted with ``--head one2many``."""
    need("onnxruntime")
    need("faster_coco_eval")
    from edgekit.testing import generate

    data = generate(tmp_path / "val", 0, 12, 0, seed=7, imgsz=320).root / "data.yaml"
    common = ("--target", "cpu", "--backend", "onnxruntime", "--precision", "fp32", "--val", str(data))
    kept = tmp_path / "kept.edgekit"
    proc = run_cli("convert", str(FIXTURES / "yolo26-shapes.pt"), *common, "-o", str(kept), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "both heads on --val (12 images, onnxruntime FP32" in out
    lines = {
        h: next(ln for ln in out.splitlines() if ln.strip().startswith(f"{h} ("))
        for h in ("one2one", "one2many")
    }
    assert lines["one2one"].endswith("<- this bundle") and "as yolo val decodes" in lines["one2many"]
    reported = float(lines["one2many"].split("box mAP50-95 ")[1].split()[0])
    assert reported > 20  # a trained model on its own kind of images
    other = tmp_path / "one2many.edgekit"
    proc = run_cli(
        "convert", str(FIXTURES / "yolo26-shapes.pt"), *common, "--head", "one2many", "-o", str(other)
    )
    assert proc.returncode == 0 and "both heads" not in proc.stdout + proc.stderr  # chosen: not compared
    scored = run_cli("val", str(other), str(data), "--json")
    assert scored.returncode == 0, scored.stderr
    assert reported == pytest.approx(100 * json.loads(scored.stdout)["map50_95"], abs=0.006)


def test_head_comparison_ignores_device_flags(tmp_path: Path) -> None:
    """The temporary bundles are plain CPU FP32 ones: a Jetson plan's --jetpack / --dla-core and a
    dynamic batch do not reach them (each made the comparison refuse its own CPU plan)."""
    need("onnxruntime")
    need("faster_coco_eval")
    from edgekit.converters.head_choice import compare_heads
    from edgekit.converters.options import ConvertOptions, make_plan
    from edgekit.models.loader import load_checkpoint
    from edgekit.testing import generate

    data = generate(tmp_path / "val", 0, 4, 0, seed=3, imgsz=96).root / "data.yaml"
    loaded = load_checkpoint(GOLDEN / "yolo26_tiny.pt")
    base = ConvertOptions(target="jetson-agx-orin", jetpack="6.1", imgsz=(64, 96), val=data)
    for opts in (
        dataclasses.replace(base, dynamic=True, max_batch=4),
        dataclasses.replace(base, dla_core=0),
    ):
        figures = compare_heads(loaded, opts, make_plan(opts))
        assert set(figures) == {"one2one", "one2many"}
        assert all(f["images"] == 4 and f["ms"] > 0 for f in figures.values())
