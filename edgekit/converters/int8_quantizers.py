"""Each backend's INT8 quantizer, as its descriptor names it (``Backend.quantizer``).

``(builder, backend, exclude, writer) -> (artifact, what ran)``: calibrated on ``builder.data``
from the bundle's FP32 ONNX artifact, by the backend's frozen ``QuantRecipe``
(``builder.recipes``), with the nodes of ``exclude`` kept float.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Dict, List, Sequence, Tuple

from edgekit.bundle.manifest import Artifact
from edgekit.calibration.fallback import Aim
from edgekit.converters.int8 import INT8_ONNX, TFLITE_FP32

if TYPE_CHECKING:
    from edgekit.converters.int8 import Int8Builder


def quantize_qdq(
    b: Int8Builder, backend: str, exclude: Sequence[str], writer: Any
) -> Tuple[Artifact, Dict[str, Any]]:
    """onnxruntime's static quantizer: a Q/DQ ONNX (run by onnxruntime, built into TensorRT engines)."""
    from edgekit.calibration.quantize_ort import quantize_onnx

    source = b.root / b.fp32.path
    ran = quantize_onnx(source, b.root / INT8_ONNX, b.data.onnxruntime_reader(), b.recipes[backend], exclude)
    b.data.progress = False  # one progress bar per conversion is enough
    return writer.artifact(INT8_ONNX, backend, "int8"), ran


def quantize_nncf(
    b: Int8Builder, backend: str, exclude: Sequence[str], writer: Any
) -> Tuple[Artifact, Dict[str, Any]]:
    """NNCF's post-training quantization of the OpenVINO model; with ``--val`` (and the fallback on),
    NNCF's accuracy-aware quantization over edgekit's validation function instead."""
    from edgekit.calibration.quantize_nncf import AccuracyControl, quantize_openvino

    source = b.root / b.fp32.path
    if b.opts.val is None or not b.opts.fallback:
        xml, weights, ran = quantize_openvino(source, b.root, b.data, b.recipes[backend], exclude)
    else:
        with b.validation_detector(backend) as (det, gt, folder):

            def metric(compiled: Any, items: Sequence[Any]) -> float:
                from edgekit.eval.validate import subset_metric

                det.runtime.use_compiled(compiled)
                return subset_metric(det, gt, folder, list(items))

            # the same aim as the Q/DQ fallback's: a share of the bound, for images the val set lacks
            control = AccuracyControl(gt["images"], metric, Aim(b.opts.max_map_drop).drop)
            xml, weights, ran = quantize_openvino(
                source, b.root, b.data, b.recipes[backend], exclude, accuracy=control
            )
    b.data.progress = False
    return writer.artifact(xml, backend, "int8", extra=[weights]), ran


def quantize_litert(
    b: Int8Builder, backend: str, exclude: Sequence[str], writer: Any
) -> Tuple[Artifact, Dict[str, Any]]:
    """Full-integer TFLite body with float I/O; the decode tail (and fallback convs) stay float.

    TFLite tensors carry module paths, not ONNX node names: the tail is found by the same walk
    on the .tflite graph; fallback keeps its head convolutions float (``exclude`` lists
    ``tflite:<tensor>`` entries for them).
    """
    from edgekit.converters.tflite import TFLITE_NAME, quantize_tflite, tflite_float_scope

    source = b.root / TFLITE_FP32
    tail, _ = tflite_float_scope(source)
    extra = [e[len("tflite:") :] for e in exclude if e.startswith("tflite:")]
    floats = [] if b.recipes[backend].quantize_head else tail
    recipe = quantize_tflite(source, b.root / TFLITE_NAME, "int8", b.data, [*floats, *extra])
    b.data.progress = False
    if not b.opts.int8_io:
        return writer.artifact(TFLITE_NAME, backend, "int8"), recipe
    from edgekit.converters.tflite_io import make_integer_io

    m = b.manifest
    io = make_integer_io(b.root / TFLITE_NAME, m.input.name, [o.name for o in m.outputs])
    recipe["io"] = {t.name: t.dtype for t in io}
    return dataclasses.replace(writer.artifact(TFLITE_NAME, backend, "int8"), io=io), recipe


def rank_qdq(
    b: Int8Builder, backend: str, exclude: Sequence[str], artifact: Artifact
) -> List[Tuple[str, float]]:
    """Weighted layers ranked by the SNR they lose in the backend's own Q/DQ ONNX."""
    from edgekit.calibration.accuracy import layer_sensitivity

    return layer_sensitivity(
        b.root / b.fp32.path, b.root / artifact.path, b.check[0][:8], _candidates(b, exclude)
    )


def rank_nncf(
    b: Int8Builder, backend: str, exclude: Sequence[str], artifact: Artifact
) -> List[Tuple[str, float]]:
    """Weighted layers ranked by the SNR they lose in NNCF's IR, run in OpenVINO (its quantizers
    sit elsewhere than onnxruntime's)."""
    from edgekit.calibration.accuracy import openvino_layer_sensitivity

    inputs = b.check[0][:8]
    return openvino_layer_sensitivity(
        b.root / b.fp32.path, b.root / artifact.path, inputs, _candidates(b, exclude)
    )


def rank_litert(
    b: Int8Builder, backend: str, exclude: Sequence[str], artifact: Artifact
) -> List[Tuple[str, float]]:
    """TFLite fallback candidates: the head convolutions (names prefixed ``tflite:``)."""
    from edgekit.converters.tflite import tflite_float_scope

    _, convs = tflite_float_scope(b.root / TFLITE_FP32)
    return [(f"tflite:{name}", 0.0) for name in convs]


def _candidates(b: Int8Builder, exclude: Sequence[str]) -> List[str]:
    from edgekit.calibration.float_scope import conv_nodes

    return [n for n in conv_nodes(b.fp32_onnx) if n not in exclude]
