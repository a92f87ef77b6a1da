from __future__ import annotations

import json
from pathlib import Path

from edgekit import __version__
from edgekit.cli.main import COMMANDS

from ..bundle.conftest import MODEL_BYTES, manifest_dict
from .helpers import one_line_error, run_cli


def test_help_lists_every_command() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0, proc.stderr
    for name in COMMANDS:
        assert name in proc.stdout


def test_version() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0 and __version__ in proc.stdout


def test_unknown_command_exits_nonzero() -> None:
    proc = run_cli("frobnicate")
    assert proc.returncode == 2 and "No such command" in proc.stderr


def _bundle(tmp_path: Path, manifest: dict) -> Path:
    b = tmp_path / "b.edgekit"
    b.mkdir()
    (b / "model.onnx").write_bytes(MODEL_BYTES)
    (b / "manifest.json").write_text(json.dumps(manifest))
    return b


def test_show_valid_bundle(tmp_path: Path) -> None:
    b = _bundle(tmp_path, manifest_dict())
    proc = run_cli("show", str(b), "--verify")
    assert proc.returncode == 0, proc.stderr
    assert "ultralytics yolo11n" in proc.stdout and "384x640" in proc.stdout
    assert "model files match the manifest" in proc.stdout


def test_show_corrupt_manifest_is_one_line(tmp_path: Path) -> None:
    b = _bundle(tmp_path, manifest_dict())
    (b / "manifest.json").write_text("{ not json")
    line = one_line_error(run_cli("show", str(b)), "manifest.json", "not valid JSON")
    assert line.startswith("error: ")


def test_show_schema_violation_is_one_line(tmp_path: Path) -> None:
    d = manifest_dict()
    del d["decoder"]
    one_line_error(run_cli("show", str(_bundle(tmp_path, d))), "manifest.json", "'decoder'")


def test_show_path_escape_is_one_line(tmp_path: Path) -> None:
    one_line_error(
        run_cli("show", str(_bundle(tmp_path, manifest_dict(model_path="../../etc/passwd")))),
        "must stay inside the bundle",
    )


def test_show_missing_model_file(tmp_path: Path) -> None:
    b = _bundle(tmp_path, manifest_dict())
    (b / "model.onnx").unlink()
    one_line_error(run_cli("show", str(b)), "model.onnx", "missing")


def test_debug_shows_traceback(tmp_path: Path) -> None:
    proc = run_cli("--debug", "show", str(tmp_path / "nope"))
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "InputFileError" in proc.stderr
