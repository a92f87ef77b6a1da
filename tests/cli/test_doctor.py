from __future__ import annotations

import json
import os
import platform

import pytest

from ..conftest import need
from .helpers import run_cli


def test_doctor_json_reports_host_and_backends() -> None:
    proc = run_cli("doctor", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["host"]["python"].startswith(platform.python_version())
    assert report["host"]["edgekit"]
    by_module = {row["module"]: row for row in report["backends"]}
    assert by_module["numpy"]["status"] == "ok"


@pytest.mark.parametrize("module", ["onnxruntime", "openvino", "ai_edge_litert"])
def test_doctor_sees_installed_backends(module: str) -> None:
    mod = need(module)  # fails under CI=true when the backend is missing: it installs here
    report = json.loads(run_cli("doctor", "--json").stdout)
    row = next(r for r in report["backends"] if r["module"] == module)
    assert row["status"] == "ok"
    version = getattr(mod, "__version__", None)
    if version:
        assert row["version"] == version


def test_doctor_table() -> None:
    proc = run_cli("doctor")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Host") and "Backends" in proc.stdout
    assert "onnxruntime" in proc.stdout


def test_doctor_warns_of_a_distribution_named_edgekit(tmp_path) -> None:
    """The PyPI project "edgekit" is unrelated and writes the same package: doctor says so."""
    quiet = run_cli("doctor")
    assert "distribution named 'edgekit'" not in quiet.stderr  # this environment holds edgekit-detect only
    info = tmp_path / "edgekit-0.1.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: edgekit\nVersion: 0.1.1\n")
    proc = run_cli("doctor", env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert "distribution named 'edgekit' (0.1.1)" in proc.stderr
    assert "pip uninstall edgekit" in proc.stderr
    report = json.loads(run_cli("doctor", "--json", env={**os.environ, "PYTHONPATH": str(tmp_path)}).stdout)
    assert "edgekit-detect" in report["name_clash"]
