"""Provenance of golden fixtures, checked one way for every family.

A golden test reads its reference tensors only through :func:`read_provenance`, which FAILS
(never skips) when the provenance file is missing, lacks a required field, or does not name
the official source the references were computed with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, Sequence

import pytest


def read_provenance(
    path: Path, required: Sequence[str], source_ok: Callable[[Dict[str, Any]], bool], source: str
) -> Dict[str, Any]:
    """The provenance record at ``path``, or ``pytest.fail`` naming what is wrong with it."""
    if not path.is_file():
        pytest.fail(f"golden data without provenance: {path} is missing")
    prov = json.loads(path.read_text())
    missing = [k for k in required if not prov.get(k)]
    if missing:
        pytest.fail(f"{path}: provenance lacks {', '.join(missing)}")
    if not source_ok(prov):
        pytest.fail(f"{path}: provenance must name {source}")
    return prov


def fixture_entry(prov: Dict[str, Any], path: Path, name: str) -> Any:
    """The entry of fixture ``name`` in ``prov['fixtures']``; fails when there is none."""
    entry = prov.get("fixtures", {}).get(name)
    if entry is None:
        pytest.fail(f"{path}: no provenance entry for fixture '{name}'")
    return entry


def official_repo(repo: str) -> Callable[[Dict[str, Any]], bool]:
    """``source_ok`` for references computed with a fetched repository at a full commit hash."""
    return lambda prov: prov.get("repo") == repo and len(str(prov.get("commit", ""))) == 40
