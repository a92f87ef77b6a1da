"""edgekit.devices is on-device code: standard library only, Python 3.8 syntax."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VERMIN = "import sys, vermin; sys.exit(vermin.main())"


def test_imports_without_heavy_modules() -> None:
    code = (
        "import sys, edgekit.devices, edgekit.devices.host, edgekit.devices.plan;"
        "edgekit.devices.resolve_plan('jetson');"
        "print(sorted(m for m in ('torch', 'numpy', 'click', 'onnx', 'rich', 'yaml') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_vermin_python38() -> None:
    pytest.importorskip("vermin")
    args = [
        "--target=3.8-",
        "--eval-annotations",
        "--no-tips",
        "--violations",
        str(ROOT / "edgekit" / "devices"),
    ]
    proc = subprocess.run([sys.executable, "-c", VERMIN, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
