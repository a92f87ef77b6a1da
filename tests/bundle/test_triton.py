"""Triton model repository export: the config matches the model file Triton will load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgekit.bundle.triton import export_triton
from edgekit.errors import InputFileError

from ..conftest import need
from ..runtimes.tiny import write_tiny_bundle


def parse(config: str) -> dict:
    blocks = re.findall(r'name: "([^"]+)"\s+data_type: (\w+)\s+dims: \[([^\]]*)\]', config)
    return {name: (dtype, [int(d) for d in dims.split(",")]) for name, dtype, dims in blocks}


@pytest.mark.parametrize("dynamic", [False, True])
def test_config_matches_the_onnx_model(tmp_path: Path, dynamic: bool) -> None:
    ort = need("onnxruntime")
    need("onnx")
    bundle = write_tiny_bundle(tmp_path / "tiny.edgekit", dynamic=dynamic)
    dest = export_triton(bundle, tmp_path / "repo")
    assert dest == tmp_path / "repo" / "tiny"
    config = (dest / "config.pbtxt").read_text()
    assert 'platform: "onnxruntime_onnx"' in config
    assert f"max_batch_size: {8 if dynamic else 0}" in config
    session = ort.InferenceSession(str(dest / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    declared = parse(config)
    for tensor in [*session.get_inputs(), *session.get_outputs()]:
        dtype, dims = declared[tensor.name]
        assert dtype == "TYPE_FP32"
        shape = tensor.shape[1:] if dynamic else tensor.shape  # Triton's dims leave out the batch axis
        assert dims == [d if isinstance(d, int) else -1 for d in shape], tensor.name
    assert (dest / "manifest.json").is_file()
    assert not [p for p in (tmp_path / "repo").iterdir() if p.name.startswith(".")]  # no temp folder left


def test_missing_engine_is_refused(tmp_path: Path) -> None:
    need("onnx")
    bundle = write_tiny_bundle(tmp_path / "tiny.edgekit")
    with pytest.raises(InputFileError, match="no such engine file"):
        export_triton(bundle, tmp_path / "repo", engine=tmp_path / "nope.engine")
    assert not (tmp_path / "repo" / "tiny").exists()
