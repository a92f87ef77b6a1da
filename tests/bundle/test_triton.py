"""Triton model repository export: the config parses with Triton's own ModelConfig and matches the
model file Triton will load."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from edgekit.bundle.triton import export_triton
from edgekit.errors import InputFileError

from ..conftest import need
from ..runtimes.tiny import write_tiny_bundle


def model_config(dest: Path) -> Any:
    """``config.pbtxt`` read by Triton's own protobuf schema (an unknown field or enum fails)."""
    need("tritonclient")
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse((dest / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def declared(config: Any) -> Dict[str, Tuple[str, List[int]]]:
    from tritonclient.grpc import model_config_pb2

    names = model_config_pb2.DataType.Name
    return {t.name: (names(t.data_type), list(t.dims)) for t in [*config.input, *config.output]}


@pytest.mark.parametrize("dynamic", [False, True])
def test_config_matches_the_onnx_model(tmp_path: Path, dynamic: bool) -> None:
    ort = need("onnxruntime")
    need("onnx")
    bundle = write_tiny_bundle(tmp_path / "tiny.edgekit", dynamic=dynamic)
    dest = export_triton(bundle, tmp_path / "repo")
    assert dest == tmp_path / "repo" / "tiny"
    config = model_config(dest)
    assert config.name == "tiny" and config.platform == "onnxruntime_onnx" and not config.backend
    assert config.max_batch_size == (8 if dynamic else 0)
    # a bundle whose plan has no TensorRT: Triton's onnxruntime backend on the CPU
    assert [(g.kind, g.count) for g in config.instance_group] == [(config.instance_group[0].KIND_CPU, 1)]
    session = ort.InferenceSession(str(dest / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    tensors = declared(config)
    assert set(tensors) == {t.name for t in [*session.get_inputs(), *session.get_outputs()]}
    for tensor in [*session.get_inputs(), *session.get_outputs()]:
        dtype, dims = tensors[tensor.name]
        assert dtype == "TYPE_FP32"
        shape = tensor.shape[1:] if dynamic else tensor.shape  # Triton's dims leave out the batch axis
        assert dims == [d if isinstance(d, int) else -1 for d in shape], tensor.name
    assert (dest / "manifest.json").is_file()
    assert not [p for p in (tmp_path / "repo").iterdir() if p.name.startswith(".")]  # no temp folder left


def test_kind_can_be_forced_and_an_existing_model_is_replaced(tmp_path: Path) -> None:
    need("onnx")
    bundle = write_tiny_bundle(tmp_path / "tiny.edgekit")
    export_triton(bundle, tmp_path / "repo")
    dest = export_triton(bundle, tmp_path / "repo", kind="gpu")
    group = model_config(dest).instance_group[0]
    assert group.kind == group.KIND_GPU
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["tiny"]


def test_missing_engine_is_refused(tmp_path: Path) -> None:
    need("onnx")
    bundle = write_tiny_bundle(tmp_path / "tiny.edgekit")
    with pytest.raises(InputFileError, match="no such engine file"):
        export_triton(bundle, tmp_path / "repo", engine=tmp_path / "nope.engine")
    assert not (tmp_path / "repo" / "tiny").exists()


def test_a_backend_the_bundle_lacks_is_refused(tmp_path: Path) -> None:
    need("onnx")
    bundle = write_tiny_bundle(tmp_path / "tiny.edgekit")
    with pytest.raises(InputFileError, match=r"no openvino model Triton can serve \(it has: onnxruntime"):
        export_triton(bundle, tmp_path / "repo", backend="openvino")
    assert not (tmp_path / "repo").exists()
