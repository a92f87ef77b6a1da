"""The INT8 recipe of one backend, resolved once and frozen.

``QuantRecipe.resolve`` combines three sources, in this order of precedence: the user's flags
(``--calib-method``, ``--bias-correction``, ``--no-silu-ranges``, ...), the target device's
constraints (``edgekit.devices.profiles.Int8Constraints``: types, symmetry, per-channel, reduce
range, NNCF's overflow fix) and the quantizer's defaults. The quantizers read nothing else, and
the manifest's INT8 report stores the recipe whole, so a bundle says exactly how it was made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Dict, Optional, Tuple

from edgekit.errors import ConversionError
from edgekit.vocab import BIAS_CORRECTIONS, CALIB_IMAGES, CALIBRATION_METHODS, NNCF_PRESETS


@dataclass(frozen=True)
class QuantRecipe:
    """How one backend's INT8 model is calibrated and quantized."""

    backend: str
    scheme: str = "qdq-s8s8"  # the device constraint's label
    activation_type: str = "int8"  # "int8" | "uint8"
    weight_type: str = "int8"
    activation_symmetric: bool = False  # zero point 0 (TensorRT)
    per_channel: bool = True
    reduce_range: bool = False  # 7-bit weights (onnxruntime on x86 without VNNI)
    overflow_fix: str = "disable"  # NNCF: "enable" | "first_layer" | "disable"
    method: str = "minmax"  # how activation ranges are estimated (CALIBRATION_METHODS)
    preset: str = "mixed"  # NNCF (NNCF_PRESETS)
    bias_correction: str = "full"  # "full" | "fast" (NNCF's) | "none" (BIAS_CORRECTIONS)
    silu_ranges: bool = True  # onnxruntime Q/DQ: tighten the ranges of SiLU inputs
    images: int = CALIB_IMAGES  # calibration images asked for
    keep_float: Tuple[str, ...] = ()  # nodes the user keeps float (--keep-float)
    quantize_head: bool = False  # the naive baseline: the decode tail quantized too

    def __post_init__(self) -> None:
        for name, value, known in (
            ("method", self.method, CALIBRATION_METHODS),
            ("bias_correction", self.bias_correction, BIAS_CORRECTIONS),
            ("preset", self.preset, NNCF_PRESETS),
            ("activation_type", self.activation_type, ("int8", "uint8")),
        ):
            if value not in known:
                raise ConversionError(f"INT8 recipe: {name} {value!r} is not one of {', '.join(known)}")

    @classmethod
    def resolve(
        cls,
        backend: str,
        constraints: Any = None,
        *,
        method: Optional[str] = None,
        bias_correction: Optional[str] = None,
        silu_ranges: Optional[bool] = None,
        preset: Optional[str] = None,
        images: int = CALIB_IMAGES,
        keep_float: Tuple[str, ...] = (),
        quantize_head: bool = False,
    ) -> QuantRecipe:
        """The recipe for ``backend``: the user's settings (None: not given) over the device's
        ``constraints`` (an ``Int8Constraints`` or None) over the defaults."""
        recipe = cls(backend, images=images, keep_float=tuple(keep_float), quantize_head=quantize_head)
        if constraints is not None:
            recipe = replace(
                recipe,
                scheme=constraints.scheme,
                activation_type=constraints.activation_type,
                weight_type=constraints.weight_type,
                activation_symmetric=constraints.activation_symmetric,
                per_channel=constraints.per_channel,
                reduce_range=constraints.reduce_range,
                overflow_fix=constraints.overflow_fix or "disable",
            )
        chosen: Dict[str, Any] = {"method": method or default_method(recipe)}
        if bias_correction is not None:
            chosen["bias_correction"] = bias_correction
        if silu_ranges is not None:
            chosen["silu_ranges"] = bool(silu_ranges)
        if preset is not None:
            chosen["preset"] = preset
        return replace(recipe, **chosen)

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["keep_float"] = list(self.keep_float)
        return d


def default_method(recipe: QuantRecipe) -> str:
    """The calibration method when none is named: the backend's (``Backend.calibration``, with the
    measurements behind it), minmax for a symmetric scheme (TensorRT's figures were measured so)."""
    from edgekit.backends import BACKENDS

    return "minmax" if recipe.activation_symmetric else BACKENDS.get(recipe.backend).calibration
