"""ONNX Runtime: the exported ONNX on the CPU (and CUDA where its GPU package is installed)."""

from __future__ import annotations

from typing import Any

from edgekit.backends.base import Backend, Module, Serving, register


def _providers(module: Any) -> str:
    return "providers: " + ", ".join(module.get_available_providers())


ONNXRUNTIME = register(
    Backend(
        name="onnxruntime",
        title="ONNX Runtime",
        rank=2,
        modules=(Module("onnxruntime", "onnxruntime", "onnx"),),
        runtime="edgekit.runtimes.onnxruntime",
        precisions=("fp32", "int8"),  # fp16 plans still run the FP32 ONNX here
        reads_onnx=True,
        graph_nms=True,  # the standard NonMaxSuppression operator
        qdq_int8=True,
        probe=_providers,
        writer="edgekit.converters.artifacts:write_onnx_artifact",
        quantizer="edgekit.converters.int8_quantizers:quantize_qdq",
        ranking="edgekit.converters.int8_quantizers:rank_qdq",
        # on the trained fixtures' test split percentile cut the CPU model's mAP50-95 drop from
        # 0.66 / 0.64 to 0.41 / 0.42 points (YOLO11 / YOLO26, no fallback); symmetric schemes
        # (TensorRT's) take minmax: their Q/DQ figures, 0.49 / 0.25, were measured with it
        calibration="percentile",
        host_io=True,
        serving=Serving('platform: "onnxruntime_onnx"', ((".onnx", "model.onnx"),), order=1),
    )
)
