"""LiteRT (TFLite): a .tflite converted from the PyTorch module with litert-torch (Raspberry Pi, ARM)."""

from __future__ import annotations

from edgekit.backends.base import Backend, Module, register

TFLITE = register(
    Backend(
        name="tflite",
        title="LiteRT (TFLite)",
        rank=3,
        modules=(
            Module("ai_edge_litert", "ai-edge-litert", "tflite"),
            Module("tflite_runtime", "tflite-runtime", "tflite"),
        ),
        runtime="edgekit.runtimes.litert",
        precisions=("fp32", "fp16", "int8"),
        writer="edgekit.converters.tflite:write_artifact",
        quantizer="edgekit.converters.int8_quantizers:quantize_litert",
        ranking="edgekit.converters.int8_quantizers:rank_litert",
        int8_source="edgekit.converters.tflite:write_int8_source",
        integer_io=True,
        calibration="minmax",  # LiteRT's quantizer has its own min/max calibration
    )
)
