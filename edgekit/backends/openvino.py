"""OpenVINO: an IR (model.xml + model.bin) compiled for Intel and ARM CPUs (and Intel GPUs/NPUs)."""

from __future__ import annotations

from typing import Any

from edgekit.backends.base import Backend, Module, Serving, register


def _devices(module: Any) -> str:
    return "devices: " + ", ".join(module.Core().available_devices)


OPENVINO = register(
    Backend(
        name="openvino",
        title="OpenVINO",
        rank=1,
        modules=(Module("openvino", "openvino", "openvino"),),
        runtime="edgekit.runtimes.openvino",
        precisions=("fp32", "fp16", "bf16", "int8"),  # bf16: the FP32 IR with the bf16 hint
        precision_hints=("fp32", "bf16"),  # INFERENCE_PRECISION_HINT on CPUs (bf16: AVX512_BF16 / AMX)
        throughput_options=(("mode", "throughput"),),  # its async request queue
        precision_option="INFERENCE_PRECISION_HINT",
        precision_values=(("fp32", "f32"), ("fp16", "f16"), ("bf16", "bf16")),
        reads_onnx=True,
        graph_nms=True,  # the ONNX NonMaxSuppression operator, converted to the IR's NMS
        probe=_devices,
        writer="edgekit.converters.openvino:write_artifact",
        quantizer="edgekit.converters.int8_quantizers:quantize_nncf",
        ranking="edgekit.converters.int8_quantizers:rank_nncf",
        # NNCF: minmax with the mixed preset (``edgekit.calibration.quantize_nncf``'s measurements)
        calibration="minmax",
        serving=Serving(
            'backend: "openvino"', ((".xml", "model.xml"), (".bin", "model.bin")), order=2, device="cpu"
        ),
    )
)
