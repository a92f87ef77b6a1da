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


@pytest.mark.parametrize(
    "spinning, force_stop, allow",
    [(None, None, None), (True, None, None), ("run", "1", None), (False, None, "0"), ("never", None, "0")],
)
def test_spinning_modes_set_onnxruntime_session_entries(bundle, spinning, force_stop, allow) -> None:
    m = bundle.manifest
    options = {} if spinning is None else {"spinning": spinning}
    with open_runtime("onnxruntime", bundle.model_path(), m.input, m.outputs, threads=1, **options) as rt:
        opts = rt.session.get_session_options()

        def entry(key: str):
            try:
                return opts.get_session_config_entry(key)
            except Exception:  # noqa: BLE001 - onnxruntime raises when the key was never set
                return None

        assert entry("session.force_spinning_stop") == force_stop
        assert entry("session.intra_op.allow_spinning") == allow
        assert rt.infer(np.full((1, 3, 64, 128), 0.5, np.float32))["scores"].shape == (1, 3, 4)


def test_unknown_spinning_mode_is_refused(bundle) -> None:
    m = bundle.manifest
    with pytest.raises(BackendError, match="spinning 'sometimes'"):
        open_runtime("onnxruntime", bundle.model_path(), m.input, m.outputs, spinning="sometimes")
