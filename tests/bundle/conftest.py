from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Dict

import pytest

from edgekit.bundle import BundleWriter, Manifest
from edgekit.devices import resolve_plan

MODEL_BYTES = b"not a real network: the bundle format does not run its files" * 10


def manifest_dict(model_path: str = "model.onnx", data: bytes = MODEL_BYTES) -> Dict[str, Any]:
    """A complete, valid manifest as a JSON-ready dict."""
    return {
        "schema_version": 2,
        "edgekit_version": "0.1.0",
        "created": "2026-11-21T07:00:00Z",
        "source": {"name": "yolo11n.pt", "sha256": "ab" * 32},
        "model": {"family": "ultralytics", "variant": "yolo11n", "task": "detect", "class_names": ["a", "b"]},
        "input": {
            "name": "images",
            "height": 384,
            "width": 640,
            "layout": "NCHW",
            "dtype": "float32",
            "batch": 1,
        },
        "preprocess": {"resize": "letterbox", "pad_value": 114, "color": "RGB", "scale": 1 / 255},
        "outputs": [
            {"name": "boxes", "role": "boxes", "shape": [1, 5040, 4], "dtype": "float32"},
            {"name": "scores", "role": "scores", "shape": [1, 5040, 2], "dtype": "float32"},
        ],
        "decoder": {"type": "nms", "conf_threshold": 0.25, "iou_threshold": 0.45, "max_det": 300},
        "artifacts": [
            {
                "backend": "onnxruntime",
                "path": model_path,
                "precision": "fp32",
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
            }
        ],
        "target": resolve_plan("x86-vnni").to_dict(),
        "tools": {"torch": "2.13.0"},
        "verification": {"onnx_simplify": {"kept": True}, "backends_not_built": []},
        "reparam": {
            "tolerance": 1e-4,
            "flops_convention": "2 x MACs",
            "latency": {},
            "input_shape": [1, 3, 384, 640],
            "before": {"params": 10},
            "after": {"params": 9},
            "passes": [{"name": "conv_bn", "applied": True, "changed": 3}],
        },
    }


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    """A valid bundle written through the real writer."""
    dest = tmp_path / "demo.edgekit"
    with BundleWriter(dest) as w:
        (w.dir / "model.onnx").write_bytes(MODEL_BYTES)
        w.commit(Manifest.from_dict(manifest_dict()))
    return dest
