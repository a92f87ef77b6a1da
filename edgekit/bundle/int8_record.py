"""The INT8 report a bundle records (``verification.int8``): typed, read back field by field.

``Int8Report`` holds what every backend shared (the calibration images, the nodes kept float,
the bounds) and one ``BackendInt8`` per backend: its quantizer's own settings, the frozen recipe,
the weight and agreement checks, the mAP figures with ``--val``, and each ``FallbackRound``.
Standard library only: the on-device side reads manifests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from edgekit.bundle import _fields as F

#: the --val figures: the drop and the first two are of ``val_metric`` (the task's own mAP50-95);
#: a segment / pose / OBB model carries its box mAP50-95 beside them
_FIGURES = ("map50_95_fp32", "map50_95_int8", "map_drop_points", "box_map50_95_fp32", "box_map50_95_int8")


def _opt_number(d: Dict[str, Any], key: str, path: str) -> Optional[float]:
    return None if d.get(key) is None else F.number(d, key, path)


def _strings(d: Dict[str, Any], key: str, path: str) -> Tuple[str, ...]:
    return tuple(F.string_list(d, key, path)) if key in d else ()


@dataclass(frozen=True)
class FallbackRound:
    """One quantization of a backend's INT8 build: what it kept float, what it missed and measured."""

    float_layers: Tuple[str, ...] = ()  # ranked layers kept float, most sensitive first
    head_float: bool = False  # the head's branches kept float too
    misses: Tuple[str, ...] = ()  # the bounds it missed (empty: accepted)
    match_rate: float = 0.0  # detections matching FP32 on the calibration-disjoint images
    map_drop_points: Optional[float] = None  # mAP50-95 drop with --val
    restored: bool = False  # a re-quantization of an earlier round that did better

    @property
    def accepted(self) -> bool:
        return not self.misses

    @property
    def drop(self) -> float:
        """The val drop, 0 without --val (rounds compare by it)."""
        return float(self.map_drop_points or 0.0)

    @classmethod
    def from_dict(cls, d: Dict[str, Any], path: str) -> FallbackRound:
        F.known_fields(d, path, cls)
        return cls(
            float_layers=_strings(d, "float_layers", path),
            head_float=F.boolean(d, "head_float", path),
            misses=_strings(d, "misses", path),
            match_rate=F.number(d, "match_rate", path, default=0.0),
            map_drop_points=_opt_number(d, "map_drop_points", path),
            restored=F.boolean(d, "restored", path),
        )

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {
            "float_layers": list(self.float_layers),
            "head_float": self.head_float,
            "misses": list(self.misses),
            "match_rate": self.match_rate,
        }
        if self.map_drop_points is not None:
            d["map_drop_points"] = self.map_drop_points
        if self.restored:
            d["restored"] = True
        return d


@dataclass(frozen=True)
class BackendInt8:
    """One backend's INT8 result: how it was made, what the checks measured, each round."""

    quantizer: Dict[str, Any]  # what the backend's quantizer ran (its own settings)
    recipe: Dict[str, Any]  # the frozen ``QuantRecipe``, whole
    weights: Dict[str, Any]  # dequantized weights against FP32 (``edgekit.verify.weights``)
    agreement: Dict[str, Any]  # outputs and detections against FP32 (``int8_agreement``)
    rounds: Tuple[FallbackRound, ...]
    accepted: bool
    misses: Tuple[str, ...] = ()
    map50_95_fp32: Optional[float] = None  # with --val: mAP50-95 of ``val_metric``
    map50_95_int8: Optional[float] = None
    map_drop_points: Optional[float] = None
    val_images: Optional[int] = None
    val_metric: Optional[str] = None  # the IoU type scored: bbox, segm, keypoints, obb
    box_map50_95_fp32: Optional[float] = None  # a task model's box mAP50-95 beside its own metric
    box_map50_95_int8: Optional[float] = None

    @classmethod
    def from_dict(cls, d: Dict[str, Any], path: str) -> BackendInt8:
        F.known_fields(d, path, cls)
        rounds = F.obj_list(d, "rounds", path)
        return cls(
            quantizer=F.mapping(d, "quantizer", path),
            recipe=F.mapping(d, "recipe", path),
            weights=F.mapping(d, "weights", path),
            agreement=F.mapping(d, "agreement", path),
            rounds=tuple(FallbackRound.from_dict(r, f"{path}rounds[{i}].") for i, r in enumerate(rounds)),
            accepted=F.boolean(d, "accepted", path),
            misses=_strings(d, "misses", path),
            val_images=F.opt_integer(d, "val_images", path),
            val_metric=F.opt_string(d, "val_metric", path),
            **{k: _opt_number(d, k, path) for k in _FIGURES},
        )

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {
            "quantizer": self.quantizer,
            "recipe": self.recipe,
            "weights": self.weights,
            "agreement": self.agreement,
            "rounds": [r.to_dict() for r in self.rounds],
            "accepted": self.accepted,
            "misses": list(self.misses),
        }
        for key in (*_FIGURES, "val_images", "val_metric"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        return d


@dataclass(frozen=True)
class Int8Report:
    """The INT8 build of a bundle: shared settings and one ``BackendInt8`` per backend."""

    calibration: Dict[str, Any] = field(default_factory=dict)  # the images read and skipped
    float_scope: Dict[str, Any] = field(default_factory=dict)  # the decode nodes kept float
    head_quantized: bool = False  # the naive baseline (benchmarks only)
    bounds: Dict[str, Any] = field(default_factory=dict)  # edgekit.verify's INT8 bounds + the aim
    backends: Dict[str, BackendInt8] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Dict[str, Any], path: str) -> Int8Report:
        F.known_fields(d, path, cls)
        backends, where = F.mapping(d, "backends", path), f"{path}backends."
        return cls(
            calibration=F.mapping(d, "calibration", path),
            float_scope=F.mapping(d, "float_scope", path),
            head_quantized=F.boolean(d, "head_quantized", path),
            bounds=F.mapping(d, "bounds", path),
            backends={
                name: BackendInt8.from_dict(F.section(backends, name, where), f"{where}{name}.")
                for name in backends
            },
        )

    def to_dict(self) -> Dict[str, Any]:
        return {
            "calibration": self.calibration,
            "float_scope": self.float_scope,
            "head_quantized": self.head_quantized,
            "bounds": self.bounds,
            "backends": {name: b.to_dict() for name, b in self.backends.items()},
        }


def int8_v1(d: Dict[str, Any]) -> Dict[str, Any]:
    """A schema-1 INT8 report in this layout: each backend's quantizer settings, which schema 1
    wrote beside its figures, move under ``quantizer``."""
    backends = d.get("backends") if isinstance(d.get("backends"), dict) else {}
    own = F.field_names(BackendInt8)
    moved = {
        name: {
            **{k: v for k, v in b.items() if k in own},
            "quantizer": {k: v for k, v in b.items() if k not in own},
        }
        for name, b in backends.items()
        if isinstance(b, dict)
    }
    return {**{k: v for k, v in d.items() if k in F.field_names(Int8Report)}, "backends": moved}
