"""Converters (converter side, needs torch): ONNX first, then the per-backend formats."""

from edgekit.converters.engine import ConvertOptions, convert

__all__ = ["ConvertOptions", "convert"]
