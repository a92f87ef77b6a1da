"""onnxruntime static Q/DQ quantization (MinMax, Entropy or Percentile), scheme from the device plan,
followed by edgekit's bias correction (``bias_correction``; onnxruntime's quantizer has none)."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Sequence, Tuple

from edgekit._optional import require
from edgekit.calibration.recipe import QuantRecipe
from edgekit.errors import ConversionError, first_line
from edgekit.progress import chatter

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


def quant_types(recipe: QuantRecipe) -> Dict[str, Any]:
    """QuantType of activations and weights for ``recipe``."""
    q = require("onnxruntime.quantization", "onnx")
    table = {"int8": q.QuantType.QInt8, "uint8": q.QuantType.QUInt8}
    return {"activation_type": table[recipe.activation_type], "weight_type": table[recipe.weight_type]}


def _calibration(q: Any, recipe: QuantRecipe, images: int) -> Tuple[Any, Dict[str, Any]]:
    """onnxruntime's calibration method and ``extra_options`` for ``recipe``."""
    method = recipe.method
    calibrate = {
        "minmax": q.CalibrationMethod.MinMax,
        "entropy": q.CalibrationMethod.Entropy,
        "percentile": q.CalibrationMethod.Percentile,
    }[method]
    extra: Dict[str, Any] = {
        "ActivationSymmetric": recipe.activation_symmetric,
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


def _after_quantization(source: Path, dest: Path, reader: Any, recipe: QuantRecipe) -> Tuple[Any, Any]:
    """edgekit's own passes over the Q/DQ model: SiLU input ranges, then bias correction."""
    silu = None
    if recipe.silu_ranges:  # SiLU inputs of the QLinearConv -> QLinearSigmoid/Mul scheme
        import onnx

        from edgekit.calibration.silu_ranges import tighten_silu_inputs

        model = onnx.load(str(dest))
        silu = tighten_silu_inputs(model)
        if silu["tensors"]:
            onnx.save(model, str(dest))
    corrected = None
    if recipe.bias_correction != "none":  # onnxruntime's quantizer has none; NNCF applies its own
        from edgekit.calibration.bias_correction import correct_biases

        reader.rewind()
        inputs = [next(iter(item.values())) for _, item in zip(range(BIAS_CORRECTION_IMAGES), reader)]
        corrected = correct_biases(source, dest, inputs)
    return silu, corrected


def quantize_onnx(
    source: Path,
    dest: Path,
    reader: Any,
    recipe: QuantRecipe,
    exclude: Sequence[str],
) -> Dict[str, Any]:
    """Write the Q/DQ model of ``source`` to ``dest``, calibrated on ``reader``; returns what ran.

    ``recipe``: types, per-channel, reduce range, symmetric activations for TensorRT, the
    calibration method, and edgekit's SiLU-range and bias-correction passes; ``exclude`` the
    nodes kept float.
    """
    q = require("onnxruntime.quantization", "onnx")
    method = recipe.method
    calibrate, extra = _calibration(q, recipe, len(reader))
    per_channel, reduce_range = recipe.per_channel, recipe.reduce_range
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
                **quant_types(recipe),
            )
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises plain Exceptions here
            first = first_line(exc)
            raise ConversionError(f"onnxruntime cannot quantize {source.name}: {first}") from None
    silu, corrected = _after_quantization(source, dest, reader, recipe)
    return {
        "quantizer": "onnxruntime.quantization.quantize_static",
        "format": "QDQ",
        "method": method,
        "percentile": PERCENTILE if method == "percentile" else None,
        "activation_type": recipe.activation_type,
        "weight_type": recipe.weight_type,
        "activation_symmetric": extra["ActivationSymmetric"],
        "op_types": op_types or "all onnxruntime quantizes",
        "per_channel": per_channel,
        "reduce_range": reduce_range,
        "float_nodes": len(exclude),
        "silu_ranges": silu,
        "bias_correction": corrected,
        "seconds": round(time.perf_counter() - started, 1),
    }
