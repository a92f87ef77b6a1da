"""Every full-size variant converts with no option added: the real ``edgekit convert`` CLI, run on
official-format, untrained checkpoints (official init and detect-head bias init, random BatchNorm
statistics) of each Ultralytics v8/v9/v10/11/26 scale, each WongKinYiu YOLOv9 / GELAN variant and
each DAMO-YOLO variant, must exit 0 with every artifact verified. Such models score ~1e-4..1e-2
everywhere: the verification must not fail them.

The checkpoints are too big to commit: ``tools/make_variant_checkpoints.py`` writes them (with
``variants.json``) into a folder named by ``EDGEKIT_VARIANTS``; without it these tests skip.
``EDGEKIT_VARIANT_TARGETS`` (comma-separated, default ``cpu``) picks the targets, e.g.
``cpu,rpi5,jetson``. One conversion takes ~0.5-5 min at 640 on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

pytest.importorskip("torch")  # the converter side (the device suite collects tests/ without torch)

from ..cli.helpers import run_cli
from ..converters.helpers import verified

pytestmark = [pytest.mark.slow, pytest.mark.variants]

ENV_DIR = "EDGEKIT_VARIANTS"
ENV_TARGETS = "EDGEKIT_VARIANT_TARGETS"
TIMEOUT_S = 3600  # the largest variants at 640 take minutes on a small CPU


def _root() -> Optional[Path]:
    value = os.environ.get(ENV_DIR)
    return Path(value) if value else None


def _checkpoints(root: Optional[Path]) -> List[Dict[str, Any]]:
    """The listing written with the checkpoints, or every .pt/.pth under ``root`` without one."""
    if root is None or not root.is_dir():
        return []
    listing = root / "variants.json"
    if listing.exists():
        return list(json.loads(listing.read_text())["variants"].values())
    files = sorted(p for p in root.rglob("*") if p.suffix in (".pt", ".pth"))
    return [{"name": p.stem, "family": p.parent.name, "file": str(p.relative_to(root))} for p in files]


def _targets() -> List[str]:
    return [t.strip() for t in os.environ.get(ENV_TARGETS, "cpu").split(",") if t.strip()]


def _cases() -> List[Any]:
    root = _root()
    entries = _checkpoints(root)
    if not entries:
        reason = (
            f"{ENV_DIR} is not set"
            if root is None
            else f"{ENV_DIR}={root} holds no checkpoints (missing or empty)"
        ) + "; write them with tools/make_variant_checkpoints.py"
        return [pytest.param(None, None, marks=pytest.mark.skip(reason=reason), id="no-checkpoints")]
    return [pytest.param(e, t, id=f"{e['family']}/{e['name']}-{t}") for e in entries for t in _targets()]


@pytest.mark.parametrize(("entry", "target"), _cases())
def test_variant_converts_and_verifies(
    entry: Dict[str, Any], target: str, tmp_path: Path, record_property: Any
) -> None:
    ckpt = _root() / entry["file"]
    assert ckpt.is_file(), f"listed but missing: {ckpt}"
    out = tmp_path / "bundle"
    t0 = time.perf_counter()
    proc = run_cli("convert", str(ckpt), "--target", target, "-o", str(out), timeout=TIMEOUT_S)
    seconds = time.perf_counter() - t0
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("verified ")]
    record_property("params", entry.get("params"))
    record_property("seconds", round(seconds, 1))
    record_property("verified", " | ".join(lines))
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-3000:]}\n{proc.stdout[-3000:]}"
    manifest = json.loads((out / "manifest.json").read_text())
    figures = verified(manifest)
    assert len(lines) == len(figures), lines  # one "verified <backend>" line per artifact
