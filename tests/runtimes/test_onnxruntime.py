from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.bundle import read_bundle
from edgekit.errors import BackendError
from edgekit.runtimes import open_runtime

from ..conftest import need
from .tiny import write_tiny_bundle


@pytest.fixture
def bundle(tmp_path: Path):
    need("onnxruntime")
    return read_bundle(write_tiny_bundle(tmp_path / "tiny.edgekit"))


def test_runtime_runs_and_validates(bundle) -> None:
    m = bundle.manifest
    with open_runtime("onnxruntime", bundle.model_path(), m.input, m.outputs, threads=1) as rt:
        out = rt.infer(np.full((1, 3, 64, 128), 0.5, np.float32))
        assert set(out) == {"boxes", "scores"} and out["scores"].shape == (1, 3, 4)
        assert "CPUExecutionProvider" in rt.providers
        with pytest.raises(BackendError, match="dtype"):
            rt.infer(np.zeros((1, 3, 64, 128), np.float64))
        with pytest.raises(BackendError, match="shape"):
            rt.infer(np.zeros((1, 3, 64, 64), np.float32))
        with pytest.raises(BackendError, match="batch 1"):
            rt.infer(np.zeros((2, 3, 64, 128), np.float32))


def test_corrupt_model_file_is_a_one_line_error(tmp_path: Path) -> None:
    need("onnxruntime")
    b = read_bundle(write_tiny_bundle(tmp_path / "t.edgekit"))
    b.model_path().write_bytes(b"\x00" * b.manifest.artifacts[0].size)  # same size, garbage
    with pytest.raises(BackendError, match="onnxruntime cannot load") as exc:
        open_runtime("onnxruntime", b.model_path(), b.manifest.input, b.manifest.outputs)
    assert "\n" not in str(exc.value)
