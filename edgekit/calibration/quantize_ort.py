"""onnxruntime static Q/DQ quantization (MinMax, Entropy or Percentile), scheme from the device plan,
followed by edgekit's bias correction (``bias_correction``; onnxruntime's quantizer has none)."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional, Sequence, Tuple

from edgekit._optional import require
from edgekit.errors import ConversionError, first_line
from edgekit.progress import chatter
from edgekit.vocab import CALIBRATION_METHODS

#: calibration methods edgekit offers (onnxruntime's CalibrationMethod names, lower case)
CALIB_CHUNK = 8  # images per calibration chunk, at most
PERCENTILE = 99.999  # onnxruntime's default; kept explicit so that the manifest records it
# TensorRT's Q/DQ placement (NVIDIA, "Explicit Quantization: Q/DQ layer-placement recommendations"):
# quantize the inputs of weighted layers and let TensorRT fuse the rest; a symmetric int8 range
# on every SiLU/Add/Concat output besides costs accuracy that TensorRT does not need to lose.
TENSORRT_OP_TYPES = ("Conv", "ConvTranspose", "Gemm", "MatMul")
BIAS_CORRECTION_IMAGES = 64  # calibration images whose per-channel output means set the bias shifts


def chunk_size(n: int, most: int = CALIB_CHUNK) -> int:
    """The largest divisor of ``n`` up to ``most`` (onnxruntime's strided calibration needs one)."""
    return next(k for k in range(min(most, max(n, 1)), 0, -1) if n % k == 0)


def default_method(spec: Mapping[str, Any]) -> str:
    """The calibration method when none is named: percentile for onnxruntime's asymmetric CPU
    scheme, minmax for TensorRT's symmetric one. On the trained fixtures' test split, percentile
    cut the CPU model's mAP50-95 drop from 0.66 / 0.64 to 0.41 / 0.42 points (YOLO11 / YOLO26,
    no fallback); the TensorRT Q/DQ figures (0.49 / 0.25) were measured with minmax."""
    return "minmax" if spec.get("activation_symmetric", False) else "percentile"


class _DropAdvice(logging.Filter):
    """onnxruntime logs a pre-processing hint on the root logger at every call; edgekit's graph is
    already simplified and shape-inferred by onnxslim."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


@contextmanager
def _hide_advice() -> Iterator[None]:
    root, drop = logging.getLogger(), _DropAdvice()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def quant_types(spec: Mapping[str, Any]) -> Dict[str, Any]:
    """QuantType of activations and weights for a plan's int8 spec (``activation_type``, ``weight_type``)."""
    q = require("onnxruntime.quantization", "onnx")
    table = {"int8": q.QuantType.QInt8, "uint8": q.QuantType.QUInt8}
    return {
        "activation_type": table[spec.get("activation_type", "int8")],
        "weight_type": table[spec.get("weight_type", "int8")],
    }


def _calibration(q: Any, spec: Mapping[str, Any], method: str, images: int) -> Tuple[Any, Dict[str, Any]]:
    """onnxruntime's calibration method and ``extra_options`` for the plan's int8 ``spec``."""
    if method not in CALIBRATION_METHODS:
        raise ConversionError(
            f"unknown calibration method {method!r}; choose one of {', '.join(CALIBRATION_METHODS)}"
        )
    calibrate = {
        "minmax": q.CalibrationMethod.MinMax,
        "entropy": q.CalibrationMethod.Entropy,
        "percentile": q.CalibrationMethod.Percentile,
    }[method]
    extra: Dict[str, Any] = {
        "ActivationSymmetric": bool(spec.get("activation_symmetric", False)),
        "WeightSymmetric": True,
        # calibrate in chunks: onnxruntime keeps every tensor of every image of a chunk in memory
        # (a YOLO11n at 640 holds ~0.55 GB per image; 100 images at once ran out of 24 GB)
        "CalibStridedMinMax": chunk_size(images),
    }
    if method == "percentile":
        extra["CalibPercentile"] = PERCENTILE
    if extra["ActivationSymmetric"]:  # the TensorRT scheme: Q/DQ at weighted layers' inputs only;
        # their outputs stay float too: the next weighted layer quantizes its own input
        extra["OpTypesToExcludeOutputQuantization"] = list(TENSORRT_OP_TYPES)
    return calibrate, extra


def _after_quantization(source: Path, dest: Path, reader: Any, spec: Mapping[str, Any]) -> Tuple[Any, Any]:
    """edgekit's own passes over the Q/DQ model: SiLU input ranges, then bias correction."""
    silu = None
    if spec.get("silu_ranges", True):  # SiLU inputs of the QLinearConv -> QLinearSigmoid/Mul scheme
        import onnx

        from edgekit.calibration.silu_ranges import tighten_silu_inputs

        model = onnx.load(str(dest))
        silu = tighten_silu_inputs(model)
        if silu["tensors"]:
            onnx.save(model, str(dest))
    corrected = None
    if spec.get("bias_correction", True):  # onnxruntime's quantizer has none; NNCF applies its own
        from edgekit.calibration.bias_correction import correct_biases

        reader.rewind()
        inputs = [next(iter(item.values())) for _, item in zip(range(BIAS_CORRECTION_IMAGES), reader)]
        corrected = correct_biases(source, dest, inputs)
    return silu, corrected


def quantize_onnx(
    source: Path,
    dest: Path,
    reader: Any,
    spec: Mapping[str, Any],
    exclude: Sequence[str],
    method: Optional[str] = None,
) -> Dict[str, Any]:
    """Write the Q/DQ model of ``source`` to ``dest``, calibrated on ``reader``; returns the recipe.

    ``spec`` is the plan's onnxruntime int8 entry (types, per-channel, reduce range, symmetric
    activations for TensorRT; ``silu_ranges`` / ``bias_correction: False`` skip those passes);
    ``exclude`` the nodes kept float; ``method`` None: ``default_method``.
    """
    q = require("onnxruntime.quantization", "onnx")
    method = method or default_method(spec)
    calibrate, extra = _calibration(q, spec, method, len(reader))
    per_channel = bool(spec.get("per_channel", True))
    reduce_range = bool(spec.get("reduce_range", False))
    op_types = list(TENSORRT_OP_TYPES) if extra["ActivationSymmetric"] else None
    started = time.perf_counter()
    reader.rewind()
    with _hide_advice(), chatter():  # its calibrator prints each stage; the hint is logged per call
        try:
            q.quantize_static(
                str(source),
                str(dest),
                reader,
                quant_format=q.QuantFormat.QDQ,
                per_channel=per_channel,
                reduce_range=reduce_range,
                nodes_to_exclude=list(exclude),
                op_types_to_quantize=op_types,
                calibrate_method=calibrate,
                extra_options=extra,
                **quant_types(spec),
            )
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises plain Exceptions here
            first = first_line(exc)
            raise ConversionError(f"onnxruntime cannot quantize {source.name}: {first}") from None
    silu, corrected = _after_quantization(source, dest, reader, spec)
    return {
        "quantizer": "onnxruntime.quantization.quantize_static",
        "format": "QDQ",
        "method": method,
        "percentile": PERCENTILE if method == "percentile" else None,
        "activation_type": spec.get("activation_type", "int8"),
        "weight_type": spec.get("weight_type", "int8"),
        "activation_symmetric": extra["ActivationSymmetric"],
        "op_types": op_types or "all onnxruntime quantizes",
        "per_channel": per_channel,
        "reduce_range": reduce_range,
        "float_nodes": len(exclude),
        "silu_ranges": silu,
        "bias_correction": corrected,
        "seconds": round(time.perf_counter() - started, 1),
    }
