"""Converters (converter side): ONNX first, then the per-backend formats.

``convert`` needs torch; the per-backend writers (e.g. ``edgekit.converters.openvino``) import
without it, so a device can turn a bundle's ONNX into its own format. Imported lazily.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConvertOptions", "convert"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from edgekit.converters import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'edgekit.converters' has no attribute '{name}'")
