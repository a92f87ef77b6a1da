"""The import contracts in pyproject.toml (import-linter): kept by the tree as it is, and broken
by the imports they forbid (on-device code importing torch, a lower layer importing a higher)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed (the dev extra)")


def lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def copy_tree(tmp: Path) -> Path:
    shutil.copytree(ROOT / "edgekit", tmp / "edgekit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    return tmp


def test_the_tree_keeps_its_contracts() -> None:
    proc = lint(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 kept, 0 broken" in proc.stdout


@pytest.mark.parametrize(
    "module, line, broken",
    [
        ("decoding/images.py", "import torch", "on-device code never imports torch"),
        ("runtimes/base.py", "from edgekit.converters import engine", "on-device code never imports torch"),
        ("verify/metrics.py", "import edgekit.cli.main", "layers"),
        ("models/base.py", "from edgekit.converters import options", "layers"),
        ("reparam/heads.py", "from edgekit.models import loader", "layers"),
        ("contract/model.py", "from edgekit.bundle import manifest", "layers"),
        ("runtimes/base.py", "from edgekit.pipeline import sources", "layers"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(tmp_path: Path, module: str, line: str, broken: str) -> None:
    root = copy_tree(tmp_path)
    path = root / "edgekit" / module
    path.write_text(path.read_text() + f"\n{line}  # injected by the test\n")
    proc = lint(root)
    assert proc.returncode == 1, proc.stdout
    # a converter-side import from on-device code breaks both contracts (the layers put the
    # converter side above the device side); each case names the one it must break
    assert " broken" in proc.stdout and broken in proc.stdout.split("Broken contracts")[-1], proc.stdout
