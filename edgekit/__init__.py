"""edgekit: put a trained PyTorch object detector on an edge device.

The on-device part (``edgekit.runtimes``, ``edgekit.decoding``, ``edgekit.bundle``,
``edgekit.devices``) imports with numpy alone; the converter side needs torch and is
imported lazily through the attributes below.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
#: the name on the package index (``pip install edgekit-detect``); "edgekit" there is another project
DISTRIBUTION = "edgekit-detect"

_LAZY = {
    "load_checkpoint": ("edgekit.models.loader", "load_checkpoint"),
    "convert": ("edgekit.converters.engine", "convert"),
    "read_bundle": ("edgekit.bundle", "read_bundle"),
    "Manifest": ("edgekit.bundle", "Manifest"),
    "Detector": ("edgekit.detector", "Detector"),
    "Detections": ("edgekit.decoding.detections", "Detections"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'edgekit' has no attribute '{name}'")


__all__ = ["DISTRIBUTION", "__version__", *_LAZY]


def __dir__() -> list:
    return sorted(__all__)
