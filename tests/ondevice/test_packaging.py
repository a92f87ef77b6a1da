"""The on-device part: Python 3.8 syntax, no torch, and a core-only install that works."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parents[2]
# everything a device imports: bundle reading, decoding, runtimes, profiles, the CLI shell
ONDEVICE = [
    "edgekit/__init__.py",
    "edgekit/__main__.py",
    "edgekit/errors.py",
    "edgekit/_optional.py",
    "edgekit/_closing.py",
    "edgekit/registry.py",
    "edgekit/vocab.py",
    "edgekit/backends",
    "edgekit/verify",
    "edgekit/detector.py",
    "edgekit/bundle",
    "edgekit/devices",
    "edgekit/decoding",
    "edgekit/runtimes",
    "edgekit/pipeline",
    "edgekit/cli/__init__.py",
    "edgekit/cli/main.py",
    "edgekit/cli/doctor.py",
    "edgekit/cli/show.py",
    "edgekit/cli/devices.py",
    "edgekit/cli/predict.py",
]
CONVERTER_SIDE = (
    "torch",
    "onnx",
    "onnxslim",
    "edgekit.models",
    "edgekit.loading",
    "edgekit.contract.decode",
    "edgekit.reparam",
    "edgekit.converters",
    "edgekit.testing",
)


def ondevice_files() -> List[Path]:
    files: List[Path] = []
    for entry in ONDEVICE:
        path = ROOT / entry
        if path.is_dir():
            files.extend(sorted(path.rglob("*.py")))
        elif path.exists():
            files.append(path)
    return files


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_ondevice_modules_never_import_the_converter_side() -> None:
    offenders = []
    for path in ondevice_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if any(name == c or name.startswith(c + ".") for c in CONVERTER_SIDE):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_ondevice_modules_are_python38_compatible() -> None:
    vermin = shutil.which("vermin", path=str(Path(sys.executable).parent)) or shutil.which("vermin")
    if vermin is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("vermin must be installed in CI (edgekit-detect[dev])")
        pytest.skip("vermin is not installed (pip install 'edgekit-detect[dev]')")
    files = [str(p) for p in ondevice_files()]
    proc = subprocess.run(
        [vermin, "--target=3.8-", "--eval-annotations", "--no-tips", "--violations", *files],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_ondevice_module_imports_here() -> None:
    code = "import importlib, sys\n"
    code += "".join(f"importlib.import_module({module_name(p)!r})\n" for p in ondevice_files())
    code += "bad = [m for m in ('torch', 'onnx', 'edgekit.models') if m in sys.modules]\n"
    code += "assert not bad, bad\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_core_only_install_runs_help_and_doctor(tmp_path: Path) -> None:
    """``pip install .`` with no extras: the CLI shell and every on-device module work without torch."""
    env_dir = tmp_path / "core"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    src = tmp_path / "src"  # build from a copy so the checkout gets no build/ folder
    shutil.copytree(
        ROOT, src, ignore=shutil.ignore_patterns(".venv*", ".git", "tests", "*.egg-info", "build")
    )
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", str(src)], capture_output=True, text=True, timeout=600
    )
    assert install.returncode == 0, install.stdout + install.stderr
    edgekit = str(env_dir / "bin" / "edgekit")
    for args in (["--help"], ["doctor"], ["devices"]):
        proc = subprocess.run([edgekit, *args], capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert proc.returncode == 0, f"edgekit {' '.join(args)}: {proc.stderr}"
    doctor = subprocess.run([edgekit, "doctor"], capture_output=True, text=True, cwd=tmp_path).stdout
    assert "torch" in doctor and "missing" in doctor
    code = "import importlib, importlib.util\n"
    code += "assert importlib.util.find_spec('torch') is None\n"
    code += "".join(f"importlib.import_module({module_name(p)!r})\n" for p in ondevice_files())
    proc = subprocess.run([str(py), "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # a converter-side entry point names the extra to install instead of a traceback
    proc = subprocess.run(
        [str(py), "-c", "from edgekit._optional import require; require('torch')"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert 'pip install "edgekit-detect[convert]"' in proc.stderr
