"""OpenVINO INT8 IR with NNCF post-training quantization (``pip install "edgekit-detect[int8]"``)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from edgekit._optional import require
from edgekit.calibration.recipe import QuantRecipe
from edgekit.errors import ConversionError, first_line
from edgekit.progress import chatter

#: edgekit's calibration method -> NNCF ``RangeEstimatorParametersSet`` member (activations)
RANGE_ESTIMATORS = {"minmax": "MINMAX", "percentile": "MEAN_QUANTILE", "entropy": "HISTOGRAM"}
#: Asymmetric activations (NNCF "mixed": SiLU outputs are one-sided) with min/max ranges. On the
#: trained fixtures' test split (no fallback) the mAP50-95 drop was, YOLO11 / YOLO26, in points:
#: performance preset + NNCF's ranges 0.83 / 0.79, + entropy 0.75 / -, + percentile 1.67 / -;
#: mixed + NNCF's ranges 0.50 / 0.55, + entropy 0.48 / -, + percentile 1.33 / -, + minmax 0.25 / 0.17.
#: Hence the recipe's defaults for OpenVINO (``edgekit.calibration.recipe``): mixed, minmax.


@dataclass(frozen=True)
class AccuracyControl:
    """What NNCF's accuracy-aware quantization (``nncf.quantize_with_accuracy_control``) needs:
    the validation items, ``metric(compiled_model, items) -> mAP50-95`` over them (edgekit.eval),
    and the largest drop allowed, in mAP points. NNCF quantizes, measures, and returns layers to
    float, most harmful first (ranked by the metric on single items), until the drop is met."""

    items: Sequence[Any]
    metric: Callable[[Any, Sequence[Any]], float]
    max_drop_points: float
    ranking_items: int = 100  # items each ranking of a layer group reads (NNCF's ranking_subset_size)


WITHOUT_BIASES = "/WithoutBiases"  # OpenVINO's name for a biased ONNX Conv's Convolution op


def openvino_names(model: Any, onnx_names: Sequence[str]) -> List[str]:
    """The OpenVINO ops that ``onnx_names`` became: an ONNX node keeps its name, except that a Conv
    with a bias becomes ``Convolution`` ("<name>/WithoutBiases") + ``Add`` (named "<name>"). Both
    are kept float; naming only the ``Add`` left the convolution quantized."""
    ops = {op.get_friendly_name() for op in model.get_ops()}
    names: List[str] = []
    for name in onnx_names:
        names.extend(n for n in (name, name + WITHOUT_BIASES) if n in ops)
    return names


def _advanced(recipe: QuantRecipe) -> Tuple[Any, Any]:
    """NNCF's advanced parameters (overflow fix, activation range estimator, bias correction off
    for ``none``) and the overflow fix."""
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    method = recipe.method
    if method not in RANGE_ESTIMATORS:
        raise ConversionError(
            f"calibration method '{method}' has no NNCF range estimator ({', '.join(RANGE_ESTIMATORS)})"
        )
    overflow = {"enable": OverflowFix.ENABLE, "disable": OverflowFix.DISABLE}.get(
        recipe.overflow_fix, OverflowFix.DISABLE
    )
    ranges = getattr(RangeEstimatorParametersSet, RANGE_ESTIMATORS[method])
    params = AdvancedQuantizationParameters(
        overflow_fix=overflow,
        activations_range_estimator_params=ranges,
        disable_bias_correction=recipe.bias_correction == "none",
    )
    return params, overflow


# The full bias correction is the default (each layer's output mean restored on the model quantized
# so far): on the YOLOv9 fixture it cut the held-out test drop from 0.59 to 0.22 mAP50-95 points
# (val 0.31 vs 0.32) for about 40 s more than the fast one.


def quantize_openvino(
    onnx_path: Path,
    out_dir: Path,
    data: Any,
    recipe: QuantRecipe,
    exclude: Sequence[str],
    stem: str = "model.int8",
    accuracy: Optional[AccuracyControl] = None,
) -> Tuple[str, str, Dict[str, Any]]:
    """Quantize the FP32 ONNX with NNCF for the OpenVINO CPU plugin; returns (xml, bin, what ran).

    ``data``: a ``CalibrationData``; ``recipe``: the overflow fix (CPUs without VNNI), the preset
    (``mixed``, asymmetric activations, by default; ``performance``), the method (NNCF's range
    estimator, ``RANGE_ESTIMATORS``), the bias correction (full by default: the comment above);
    ``exclude``: ONNX nodes kept float (``openvino_names``); ``accuracy``: NNCF's accuracy-aware
    quantization keeps the mAP drop within its bound (``AccuracyControl``)."""
    ov = require("openvino", "openvino")
    nncf = require("nncf", "int8")
    logging.getLogger("nncf").setLevel(logging.ERROR)  # its progress bars and INFO lines
    advanced, overflow = _advanced(recipe)
    fast = recipe.bias_correction == "fast"
    started = time.perf_counter()
    xml, weights = f"{stem}.xml", f"{stem}.bin"
    try:
        model = ov.convert_model(str(onnx_path))
        scope = openvino_names(model, exclude)
        settings = dict(
            preset=nncf.QuantizationPreset(recipe.preset),
            target_device=nncf.TargetDevice.CPU,
            subset_size=len(data),
            fast_bias_correction=fast,
            ignored_scope=nncf.IgnoredScope(names=scope, validate=False),
        )
        with chatter():  # NNCF draws its own progress bars on stdout
            if accuracy is None:
                quantized = nncf.quantize(model, nncf.Dataset(data), advanced_parameters=advanced, **settings)
            else:
                quantized = _with_accuracy_control(nncf, model, data, accuracy, advanced, settings)
        ov.save_model(quantized, str(Path(out_dir) / xml), compress_to_fp16=False)
        fake_quantize = sum(op.get_type_name() == "FakeQuantize" for op in quantized.get_ops())
    except Exception as exc:  # noqa: BLE001 - NNCF and OpenVINO raise their own types
        first = first_line(exc)
        raise ConversionError(f"NNCF cannot quantize {onnx_path.name} for OpenVINO: {first}") from None
    ran = {
        "quantizer": "nncf.quantize" if accuracy is None else "nncf.quantize_with_accuracy_control",
        "nncf": getattr(nncf, "__version__", "?"),
        **_settings(recipe, overflow),
        "float_nodes": len(exclude),
        "float_openvino_ops": len(scope),
        "fake_quantize_ops": fake_quantize,  # fewer where accuracy control returned layers to float
        "seconds": round(time.perf_counter() - started, 1),
    }
    if accuracy is not None:
        ran["accuracy_control"] = {
            "max_drop_points": accuracy.max_drop_points,
            "validation_items": len(accuracy.items),
            "ranking_items": min(accuracy.ranking_items, len(accuracy.items)),
        }
    return xml, weights, ran


def _settings(recipe: QuantRecipe, overflow: Any) -> Dict[str, Any]:
    """The recipe's settings as NNCF ran them (for the report)."""
    return {
        "preset": recipe.preset,
        "method": recipe.method,
        "range_estimator": RANGE_ESTIMATORS[recipe.method],
        "target_device": "CPU",
        "overflow_fix": overflow.value,
        "bias_correction": recipe.bias_correction,
    }


def _with_accuracy_control(
    nncf: Any, model: Any, data: Any, accuracy: AccuracyControl, advanced: Any, settings: Dict[str, Any]
) -> Any:
    """``nncf.quantize_with_accuracy_control`` over ``accuracy``'s items and metric (absolute drop)."""
    from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

    def validate(compiled: Any, items: Any) -> Tuple[float, None]:
        return accuracy.metric(compiled, list(items)), None  # NNCF's "metric mode"

    restorer = AdvancedAccuracyRestorerParameters(
        ranking_subset_size=min(accuracy.ranking_items, len(accuracy.items)), num_ranking_workers=1
    )
    return nncf.quantize_with_accuracy_control(
        model,
        nncf.Dataset(data),
        nncf.Dataset(list(accuracy.items)),
        validate,
        max_drop=accuracy.max_drop_points / 100.0,
        drop_type=nncf.DropType.ABSOLUTE,
        advanced_quantization_parameters=advanced,
        advanced_accuracy_restorer_parameters=restorer,
        **settings,
    )
