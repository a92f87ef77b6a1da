"""TensorRT: the bundle carries the ONNX; the engine is built on the Jetson (or GPU) that runs it."""

from __future__ import annotations

from edgekit.backends.base import Backend, Module, Serving, register

TENSORRT = register(
    Backend(
        name="tensorrt",
        title="TensorRT",
        rank=0,
        modules=(Module("tensorrt", "tensorrt", "tensorrt", note="JetPack"),),
        companions=(Module("cuda", "cuda-python", "tensorrt"),),
        runtime="edgekit.runtimes.tensorrt",
        precisions=("fp32", "fp16", "int8"),  # the engine's precision
        reads_onnx=True,
        graph_nms=True,  # the EfficientNMS_TRT plugin
        qdq_int8=True,  # INT8 engines are built from the Q/DQ ONNX
        built_on_device=True,
        writer="edgekit.converters.artifacts:write_onnx_artifact",
        quantizer="edgekit.converters.int8_quantizers:quantize_qdq",
        ranking="edgekit.converters.int8_quantizers:rank_qdq",
        device_build="edgekit.converters.tensorrt:device_build",
        calibration="percentile",  # asymmetric only; TensorRT's symmetric scheme takes minmax
        # Triton serves the bundle's ONNX with onnxruntime on the GPU, or the engine built from it
        serving=Serving(
            'platform: "onnxruntime_onnx"',
            ((".onnx", "model.onnx"),),
            order=0,
            device="gpu",
            engine_line='platform: "tensorrt_plan"',
        ),
    )
)
