"""Runtimes refuse options they do not read, naming the ones they accept (a typo is not ignored)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.errors import BackendError

from ..conftest import need
from .tiny import write_tiny_bundle

pytestmark = pytest.mark.ondevice


def test_an_unknown_runtime_option_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    need("onnxruntime")
    from edgekit.detector import Detector

    bundle = write_tiny_bundle(tmp_path / "t.edgekit")
    with pytest.raises(BackendError, match=r"unknown option spining \(did you mean spinning\?\); it accepts"):
        Detector(bundle, spining="never")
    with Detector(bundle, spinning="never") as det:  # the real name is read
        assert det.backend == "onnxruntime"
