"""``edgekit inspect``: the report in-process, and user errors through the real CLI."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from edgekit.cli.main import cli

from ..models.conftest import make_model, registered_tiny_families, save_foreign
from .helpers import one_line_error, run_cli

torch = pytest.importorskip("torch")


@pytest.fixture
def tiny_families() -> Iterator[None]:
    with registered_tiny_families():
        yield


@pytest.fixture
def tiny_ckpt(tmp_path: Path) -> Path:
    return save_foreign(tmp_path / "tiny.pt", {"model": None, "ema": make_model(21).half()})


def _conv_flops(hw: int) -> int:
    """2 x MACs of the tiny DetectionModel: 3->8 3x3, 8->8 3x3, 8->8 1x1, stride 1."""
    return 2 * hw * hw * (8 * 3 * 9 + 8 * 8 * 9 + 8 * 8 * 1)


def test_inspect_json(tiny_families: None, tiny_ckpt: Path) -> None:
    result = CliRunner().invoke(cli, ["inspect", str(tiny_ckpt), "--json", "--imgsz", "96"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert d["family"] == "tinytest" and d["variant"] == "tiny-a"
    assert d["nc"] == 3 and d["names"] == ["class0", "class1", "class2"]
    assert d["params"] == sum(p.numel() for p in make_model(21).parameters())
    assert d["gflops"] == pytest.approx(_conv_flops(96) / 1e9, rel=1e-9)
    assert d["imgsz"] == [96, 96] and d["trained_imgsz"] == [64, 64]
    assert d["structures"]["rep_branches"] == 1 and d["structures"]["dfl"] is True
    assert d["preprocess"]["resize"] == "letterbox" and d["head"]["strides"] == [8, 16, 32]
    assert any("fuse 1 multi-branch RepConv" in s for s in d["reparam_steps"])
    assert any("fold 3 BatchNorm" in s for s in d["reparam_steps"])
    assert not any("PGI" in s for s in d["reparam_steps"])
    assert len(d["sha256"]) == 64


def test_inspect_human(tiny_families: None, tiny_ckpt: Path) -> None:
    result = CliRunner().invoke(cli, ["inspect", str(tiny_ckpt)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "family       tinytest" in out and "classes      3: class0, class1, class2" in out
    assert f"{_conv_flops(64) / 1e9:.3g} at 64x64" in out  # the trained size by default
    assert "RGB, letterbox (pad 114) to 64x64, pixels x 1/255" in out
    assert "DFL                      yes (16 bins)" in out
    assert "convert will apply:" in out and "1. fuse 1 multi-branch RepConv" in out


# ------------------------------------------------------------------ errors via the real CLI
def test_malicious_checkpoint_via_cli(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "bad.pt"
    torch.save({"model": Payload()}, path)
    proc = run_cli("inspect", str(path))
    one_line_error(proc, str(path), "refuses to execute", "nothing was executed")
    assert proc.stdout == "" and not marker.exists()


def _bad(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.pt"
    if kind == "truncated":
        torch.save({"model": make_model(22).state_dict()}, path)
        path.write_bytes(path.read_bytes()[:3000])
    elif kind == "random":
        path.write_bytes(random.Random(1).randbytes(2048))
    elif kind == "jpeg":
        path.write_bytes(b"\xff\xd8\xff\xe1" + bytes(100))
    elif kind == "text":
        path.write_text("this is not a checkpoint\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    elif kind == "unsupported":
        torch.save({"epoch": 3, "weights": {"fc.weight": torch.zeros(2, 2)}}, path)
    return path  # "missing": never created


@pytest.mark.parametrize(
    "kind", ["truncated", "random", "jpeg", "text", "empty", "directory", "missing", "unsupported"]
)
def test_bad_files_via_cli(tmp_path: Path, kind: str) -> None:
    path = _bad(tmp_path, kind)
    proc = run_cli("inspect", str(path))
    line = one_line_error(proc, str(path))
    assert line.startswith("error: ")
    assert proc.stdout == ""


def test_inspect_plan_runs_and_verifies_the_pipeline() -> None:
    """``--plan`` resolves the target and runs the verified reparameterization (real subprocess)."""
    ckpt = Path(__file__).resolve().parents[1] / "data" / "golden" / "yolov9" / "tiny_v9t.pt"
    proc = run_cli("inspect", str(ckpt), "--plan", "--target", "rpi5", "--imgsz", "64", "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["plan"]["target"] == "rpi5" and d["plan"]["imgsz"] == [64, 64]
    names = [p["name"] for p in d["reparam"]["passes"] if p["applied"]]
    assert names[:3] == ["pgi_strip", "deploy_form", "conv_bn"]
    assert d["reparam"]["passes"][-1]["after"]["params"] < d["reparam"]["before"]["params"]
