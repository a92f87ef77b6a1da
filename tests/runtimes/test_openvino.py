"""The OpenVINO runtime wrapper on a tiny real model: checks, hints, sync vs async."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.backends import BACKENDS
from edgekit.bundle import read_bundle
from edgekit.bundle.manifest import Artifact
from edgekit.converters.openvino import write_ir
from edgekit.errors import BackendError, ConversionError
from edgekit.runtimes import open_runtime

from ..conftest import need
from .tiny import write_tiny_bundle


@pytest.fixture
def ir(tmp_path: Path):
    need("onnxruntime")
    need("openvino")
    bundle = read_bundle(write_tiny_bundle(tmp_path / "tiny.edgekit"))
    xml, _ = write_ir(bundle.model_path("onnxruntime"), tmp_path, "fp32")
    return tmp_path / xml, bundle


def inputs(n: int) -> list:
    rng = np.random.default_rng(0)
    return [rng.random((1, 3, 64, 128), dtype=np.float32) for _ in range(n)]


def test_registered_lazily() -> None:
    assert BACKENDS.get("openvino").runtime == "edgekit.runtimes.openvino"


def test_runtime_equals_onnxruntime_and_validates(ir) -> None:
    xml, bundle = ir
    m = bundle.manifest
    with open_runtime("openvino", xml, m.input, m.outputs, threads=1) as rt, open_runtime(
        "onnxruntime", bundle.model_path("onnxruntime"), m.input, m.outputs, threads=1
    ) as ref:
        assert rt.precision_hint == "f32"
        for x in inputs(3):
            got, want = rt.infer(x), ref.infer(x)
            assert list(got) == [o.name for o in m.outputs]  # manifest order
            for name in want:
                np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6)
        with pytest.raises(BackendError, match="dtype"):
            rt.infer(np.zeros((1, 3, 64, 128), np.float64))
        with pytest.raises(BackendError, match="shape"):
            rt.infer(np.zeros((1, 3, 64, 64), np.float32))
        with pytest.raises(BackendError, match="shape"):
            rt.infer_async(np.zeros((1, 3, 64, 64), np.float32), lambda out, data: None)


def test_throughput_async_equals_sync(ir) -> None:
    xml, bundle = ir
    m = bundle.manifest
    xs = inputs(6)
    with open_runtime("openvino", xml, m.input, m.outputs, threads=1) as sync:
        expected = [sync.infer(x) for x in xs]
    with open_runtime("openvino", xml, m.input, m.outputs, mode="throughput") as rt:
        assert str(rt.get_property("PERFORMANCE_HINT")).upper().endswith("THROUGHPUT")
        got = list(rt.infer_many(xs))
        seen = {}
        for i, x in enumerate(xs):
            rt.infer_async(x, lambda out, index: seen.__setitem__(index, out), i)
        rt.wait()
    assert len(got) == len(xs) and sorted(seen) == list(range(len(xs)))
    for want, a, b in zip(expected, got, (seen[i] for i in range(len(xs)))):
        for name in want:
            np.testing.assert_array_equal(a[name], want[name])
            np.testing.assert_array_equal(b[name], want[name])


def test_bad_options_and_files_are_one_line_errors(ir, tmp_path: Path) -> None:
    xml, bundle = ir
    m = bundle.manifest
    with pytest.raises(BackendError, match="mode"):
        open_runtime("openvino", xml, m.input, m.outputs, mode="fastest")
    with pytest.raises(BackendError, match="precision"):
        open_runtime("openvino", xml, m.input, m.outputs, precision="int4")
    broken = tmp_path / "broken.xml"
    broken.write_text("<net>not an IR")
    with pytest.raises(BackendError, match="openvino cannot load") as exc:
        open_runtime("openvino", broken, m.input, m.outputs)
    assert "\n" not in str(exc.value)
    with pytest.raises(ConversionError, match="int8"):
        write_ir(bundle.model_path("onnxruntime"), tmp_path, "int8")


def test_manifest_artifact_files_are_optional() -> None:
    base = {
        "backend": "onnxruntime",
        "path": "model.onnx",
        "precision": "fp32",
        "sha256": "0" * 64,
        "size": 1,
    }
    assert Artifact.from_dict(base, "").files == ()
    assert Artifact.from_dict({**base, "files": []}, "").files == ()
    extra = {"path": "model.bin", "sha256": "1" * 64, "size": 2}
    assert Artifact.from_dict({**base, "files": [extra]}, "").files[0].path == "model.bin"
    from edgekit.bundle._fields import FieldError

    with pytest.raises(FieldError, match="files"):
        Artifact.from_dict({**base, "files": "model.bin"}, "")
    with pytest.raises(FieldError, match="inside the bundle"):
        Artifact.from_dict({**base, "files": [{**extra, "path": "../x.bin"}]}, "")
