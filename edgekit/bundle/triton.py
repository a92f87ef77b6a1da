"""Triton Inference Server model repository from a bundle (``config.pbtxt`` + the model file).

For users serving many streams from one GPU box. ONNX models are served by Triton's
onnxruntime backend (``platform: "onnxruntime_onnx"``), TensorRT engines as ``tensorrt_plan``;
the pre/post-processing stays in the client (``edgekit.Detector``'s preprocessor and decoder
read the same manifest, which is copied beside the config).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, List, Optional, Sequence, Union

from edgekit.bundle.io import read_bundle
from edgekit.errors import InputFileError

PLATFORMS = {"onnxruntime": ("onnxruntime_onnx", "model.onnx"), "tensorrt": ("tensorrt_plan", "model.plan")}
TRITON_TYPES = {
    "float32": "TYPE_FP32",
    "float16": "TYPE_FP16",
    "int8": "TYPE_INT8",
    "uint8": "TYPE_UINT8",
    "int32": "TYPE_INT32",
    "int64": "TYPE_INT64",
}


def _dims(shape: Sequence[Optional[int]], batched: bool) -> str:
    dims = list(shape[1:]) if batched else list(shape)
    return "[ " + ", ".join(str(-1 if d is None else int(d)) for d in dims) + " ]"


def config_text(name: str, manifest: Any, platform: str) -> str:
    """The ``config.pbtxt`` of ``manifest``'s model (dynamic batch: ``max_batch_size`` 8)."""
    inp = manifest.input
    batched = inp.batch is None
    shape: List[Optional[int]] = (
        [inp.batch, 3, inp.height, inp.width]
        if inp.layout == "NCHW"
        else [inp.batch, inp.height, inp.width, 3]
    )
    lines = [
        f'name: "{name}"',
        f'platform: "{platform}"',
        f"max_batch_size: {8 if batched else 0}",
        "input [",
        "  {",
        f'    name: "{inp.name}"',
        f"    data_type: {TRITON_TYPES[inp.dtype]}",
        f"    dims: {_dims(shape, batched)}",
        "  }",
        "]",
        "output [",
    ]
    for i, out in enumerate(manifest.outputs):
        lines += [
            "  {",
            f'    name: "{out.name}"',
            f"    data_type: {TRITON_TYPES[out.dtype]}",
            f"    dims: {_dims(out.shape, batched)}",
            "  }" + ("," if i < len(manifest.outputs) - 1 else ""),
        ]
    lines += ["]", "instance_group [ { kind: KIND_GPU, count: 1 } ]", ""]
    return "\n".join(lines)


def export_triton(
    bundle: Union[str, Path],
    repository: Union[str, Path],
    name: Optional[str] = None,
    engine: Optional[Path] = None,
) -> Path:
    """Write ``repository/<name>/`` (``config.pbtxt``, ``1/<model>``, ``manifest.json``); returns it.

    The bundle's onnxruntime model is used, or its TensorRT ONNX; ``engine`` (a built ``.engine``)
    exports a ``tensorrt_plan`` instead. Written to a temporary folder and renamed into place.
    """
    b = read_bundle(bundle)
    m = b.manifest
    name = name or Path(b.root).name.split(".")[0]
    if engine is not None:
        platform, model_name = PLATFORMS["tensorrt"]
        source = Path(engine)
        if not source.is_file():
            raise InputFileError(source, "no such engine file")
    else:
        onnx = [
            a for a in m.artifacts if a.backend in ("onnxruntime", "tensorrt") and a.path.endswith(".onnx")
        ]
        if not onnx:
            raise InputFileError(
                Path(b.root), "the bundle has no ONNX model for Triton (pass a built --engine)"
            )
        platform, model_name = PLATFORMS["onnxruntime"]
        source = Path(b.root) / onnx[0].path
        m = m.for_artifact(onnx[0])  # its own input dtype and outputs (uint8 pixels, best scores)
    dest = Path(repository) / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=dest.parent))
    try:
        (tmp / "1").mkdir()
        shutil.copyfile(source, tmp / "1" / model_name)
        shutil.copyfile(Path(b.root) / "manifest.json", tmp / "manifest.json")
        (tmp / "config.pbtxt").write_text(config_text(name, m, platform))
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
