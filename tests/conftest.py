"""Shared test configuration.

- Tests under the on-device folders are marked ``ondevice``: they need numpy + a backend only
  and run a second time under the device interpreter (``make test-device``).
- Hardware markers (gpu, tensorrt, jetson) skip with a reason where the hardware is absent.
- ``need("onnxruntime")`` imports a backend or skips; under ``CI=true`` a backend that installs
  on this machine fails the test instead, so CI cannot go green by skipping.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
ONDEVICE_DIRS = ("bundle", "decoding", "devices", "runtimes", "ondevice", "pipeline")
CONVERTER_DIRS = (
    "models",
    "reparam",
    "converters",
    "calibration",
    "datasets",
    "eval",
    "tools",
    "docs",
    "examples",
)
# backends whose wheels install on the CI machine: never skipped under CI=true
INSTALLABLE_HERE = {
    "onnxruntime",
    "openvino",
    "ai_edge_litert",
    "cv2",
    "onnx",
    "onnxslim",
    "torch",
}
if sys.version_info >= (3, 10):  # Triton's config parser: a dev extra of the converter-side venv only
    INSTALLABLE_HERE.add("tritonclient")
IN_CI = os.environ.get("CI", "").lower() == "true"

if importlib.util.find_spec("torch") is None:  # the device environment: converter tests cannot run
    collect_ignore = [str(ROOT / "tests" / d) for d in CONVERTER_DIRS]


def need(module: str) -> ModuleType:
    """Import an optional backend for a test, or skip (fail under CI=true if it installs here)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if IN_CI and module in INSTALLABLE_HERE:
            pytest.fail(f"{module} must be installed in CI ({exc})")
        pytest.skip(f"{module} is not installed")


def _has_gpu() -> bool:
    if importlib.util.find_spec("torch") is not None:
        import torch

        return bool(torch.cuda.is_available())
    return Path("/dev/nvidia0").exists()


def _is_jetson() -> bool:
    return Path("/etc/nv_tegra_release").exists()


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    hardware = {
        "gpu": (_has_gpu, "needs a CUDA GPU"),
        "tensorrt": (lambda: importlib.util.find_spec("tensorrt") is not None, "needs TensorRT (JetPack)"),
        "jetson": (_is_jetson, "needs a Jetson board"),
    }
    cache = {}
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(ROOT / "tests")
        if rel.parts and rel.parts[0] in ONDEVICE_DIRS:
            item.add_marker(pytest.mark.ondevice)
        for name, (probe, reason) in hardware.items():
            if name in item.keywords:
                if name not in cache:
                    cache[name] = probe()
                if not cache[name]:
                    item.add_marker(pytest.mark.skip(reason=reason))
