"""Every extra that an error message tells users to install exists in pyproject.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit._optional import EXTRAS

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")


def test_every_named_extra_is_defined() -> None:
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    defined = set(pyproject["project"]["optional-dependencies"])
    assert set(EXTRAS.values()) - {"all"} <= defined, set(EXTRAS.values()) - defined
    everything = pyproject["project"]["optional-dependencies"]["all"][0]
    # track pins numpy<2; tensorrt is JetPack's; supervision pulls opencv-python beside the headless
    # one; dev and docs are for developers
    for extra in defined - {"all", "dev", "docs", "track", "tensorrt", "supervision"}:
        assert extra in everything, f"edgekit-detect[all] lacks {extra}"
