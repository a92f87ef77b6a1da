"""How far a converted model may be from its reference, per precision, by what each output means.

One ``Bounds`` per precision, defined here and nowhere else, written whole into the manifest.
Outputs are bounded by their meaning, never by their maximum:

- **boxes** in pixels of the network input, absolute: ``|a - b| <= box_atol + box_rtol * |b|``;
- **class scores** as probabilities, absolute, and in logit space where they are not tiny:
  ``|a - b| <= score_atol + score_logit * b * (1 - b)`` (``d sigmoid = p (1 - p) d logit``, so the
  second term is a logit error of ``score_logit``);
- **raw tensors** (logits, DFL distributions) by SNR and cosine, which are scale-free;
- **decoded detections** by class and IoU: every detection clear of the cut (the score threshold,
  or the k-th score of a top-k list) must be found in the other model's detections.

The FP32 numbers come from measurements (``docs/measurements/verification-noise.md``): models built
by the official code with its own initialization and randomized BatchNorm, every family, each
backend against PyTorch on the same pixels. The largest FP32 differences seen were 1.2e-4 px on
boxes (2 ulp of a 512 px coordinate) and 1.3e-7 on probabilities: onnxruntime's vectorized
logistic computes ``0.5 + f(x)``, so its absolute error is ~2 ulp of 0.5 whatever the score, which
is 6e-4 *relative* on a 2e-4 score (the reason a bound relative to ``max|b|`` failed valid models).
The bounds leave a margin of ~80x (boxes) and ~8x (scores) over that noise and sit far below the
smallest real defect measured by the fault-injection suite (``tests/verify/test_faults.py``): an
anchor offset of 0 instead of 0.5 moves boxes by 4 px, a DFL bin off by one by a stride.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Dict, Optional

import numpy as np

from edgekit.vocab import MAX_MAP_DROP

# The fixed bounds below hold for convolutional detectors, whose float32 rounding is ~1e-4 px. A model
# can be far more sensitive to rounding on some inputs (attention with near-one-hot softmax, as an
# untrained YOLO12: OpenVINO and onnxruntime differ by 0.014 px on its boxes, both in f32). The
# conversion check therefore also runs the reference in float64 and widens each elementwise bound
# by FLOAT_NOISE_FACTOR times that model's own max |f32 - f64| on the same input: two correct f32
# implementations differ by a few times that; every fault that matters is pixels or whole logits.
FLOAT_NOISE_FACTOR = 10.0


def float_noise(f32: Any, f64: Any) -> float:
    """``FLOAT_NOISE_FACTOR`` x max |f32 - f64| of one output computed both ways (numpy arrays or
    torch tensors); 0 where the shapes differ or the output is empty."""

    def exact(x: Any) -> np.ndarray:  # torch tensors kept in float64 (as_array would round them)
        return np.asarray(x.detach().cpu().double().numpy() if hasattr(x, "detach") else x, np.float64)

    a, b = exact(f32), exact(f64)
    if a.shape != b.shape or a.size == 0:
        return 0.0
    return FLOAT_NOISE_FACTOR * float(np.max(np.abs(a - b)))


@dataclass(frozen=True)
class Bounds:
    """The bounds of one precision; ``None`` means "reported, not bounded"."""

    precision: str
    box_atol_px: Optional[float]  # boxes: absolute pixels ...
    box_rtol: float  # ... plus this share of the coordinate
    score_atol: Optional[float]  # probabilities: absolute ...
    score_logit: float  # ... plus this error in logit units
    raw_rtol: Optional[float]  # raw tensors (logits, distributions): max|a - b| <= raw_rtol * max|b| ...
    raw_min_snr_db: Optional[float]  # ... and this SNR
    min_cosine: Optional[float]  # raw tensors, and boxes where they have no elementwise bound
    match_iou: float  # without elementwise box bounds (INT8): the IoU that pairs two detections
    min_match_rate: float  # share of the detections clear of the cut that must be found
    cut_rel: float = 0.0  # the cut's margin as a share of the threshold (INT8: hysteresis)
    max_map_drop: Optional[float] = None  # mAP50-95 points against FP32 with --val (INT8)
    weight_steps: Optional[float] = None  # INT8: each dequantized weight within this many steps of FP32
    # INT8: mAP50-95 against the FP32 model's confident detections as truth, no labels (verify.fidelity)
    min_fidelity: Optional[float] = None
    preprocess_levels: float = (
        1.0  # the bundle's input may differ from the reference's by this many 0-255 levels
    )
    # boxes are bounded at the anchors whose reference best class probability reaches this (0: all);
    # the box of an anchor no decoder setting keeps (below val's conf 0.001) cannot reach a user
    box_min_score: float = 0.0
    # query heads (DETR): the share of the queries whose rows may lack a partner, swapped at the
    # selection boundary (0: none; set by ``for_queries``)
    query_swaps: float = 0.0
    why: str = ""

    def widened(self, box_px: float = 0.0, score: float = 0.0) -> Bounds:
        """These bounds with a model's own scaled float32 rounding added to the absolute box and
        score terms (see ``FLOAT_NOISE_FACTOR``): for matching detections pair by pair."""
        changes: Dict[str, float] = {}
        if box_px > 0 and self.box_atol_px is not None:
            changes["box_atol_px"] = self.box_atol_px + box_px
        if score > 0 and self.score_atol is not None:
            changes["score_atol"] = self.score_atol + score
        return replace(self, **changes) if changes else self

    def box_tol(self, reference: np.ndarray) -> np.ndarray:
        """The allowed absolute difference of each box coordinate of ``reference``."""
        atol = np.inf if self.box_atol_px is None else self.box_atol_px
        return atol + self.box_rtol * np.abs(reference)

    def score_tol(self, reference: np.ndarray) -> np.ndarray:
        """The allowed absolute difference of each probability of ``reference``."""
        if self.score_atol is None:
            return np.full(np.shape(reference), np.inf)
        p = np.clip(reference, 0.0, 1.0)
        return self.score_atol + self.score_logit * p * (1.0 - p)

    def cut_margin(self, cut: float) -> float:
        """How far above a cut (threshold or k-th score) a detection must be to be required."""
        tol = float(self.score_tol(np.float64(cut))) if self.score_atol is not None else 0.0
        return max(tol, self.cut_rel * cut)

    @property
    def elementwise(self) -> bool:
        """Whether matched detections must also meet the box and score bounds pair by pair."""
        return self.box_atol_px is not None and self.score_atol is not None

    def to_dict(self) -> Dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


FP32 = Bounds(
    "fp32",
    box_atol_px=1e-2,
    box_rtol=1e-5,
    score_atol=1e-6,
    score_logit=1e-3,
    raw_rtol=1e-4,
    raw_min_snr_db=80.0,
    min_cosine=0.99999,
    match_iou=0.99,
    min_match_rate=0.99,
    why="float rounding only: ~80x the largest difference measured between backends and PyTorch",
)
# FP16 weights (OpenVINO IR, TFLite) or FP16 arithmetic (TensorRT): fp16's epsilon is 9.8e-4, so a
# coordinate of 500 px is 0.5 px from its neighbour; deep nets accumulate a few epsilons.
FP16 = Bounds(
    "fp16",
    box_atol_px=1.0,
    box_rtol=4e-3,
    score_atol=2e-3,
    score_logit=0.05,
    raw_rtol=None,
    raw_min_snr_db=40.0,
    min_cosine=0.999,
    match_iou=0.9,
    min_match_rate=0.95,
    why="fp16 rounding (epsilon 9.8e-4) of weights or arithmetic, a few epsilons deep",
)
# bf16 keeps fp32's range with an 8-bit mantissa (epsilon 7.8e-3): 8x fp16's rounding
BF16 = Bounds(
    "bf16",
    box_atol_px=4.0,
    box_rtol=3e-2,
    score_atol=1.5e-2,
    score_logit=0.3,
    raw_rtol=None,
    raw_min_snr_db=25.0,
    min_cosine=0.995,
    match_iou=0.8,
    min_match_rate=0.9,
    # Measured (OpenVINO bf16 vs f32, trained YOLO11 / YOLOv9 fixtures, 20 images): boxes of anchors
    # scoring >= 0.001 within 2.6 px, those of near-zero anchors off by up to 55 px (a flat DFL
    # distribution turns bf16 logit rounding into whole bins): bounded where a detection can come from
    box_min_score=0.001,
    why="bf16 arithmetic (epsilon 7.8e-3), a few epsilons deep; boxes of anchors scoring >= 0.001",
)
# INT8 changes values by design: no elementwise bound. Boxes keep their shape (cosine), detections
# above the threshold are found above half of it in the other model (hysteresis), and with --val the
# mAP decides. Q/DQ weights are read back (edgekit.verify.weights): within one step of FP32, where
# rounding gives half a step and a wrong scale, zero point or axis gives tens to thousands.
# Score tensors are reported, not bounded: mostly near-zero probabilities, their cosine follows a
# handful of confident anchors (0.89-0.95 on a trained YOLO11 whose mAP50-95 moved by 0.4 points).
INT8 = Bounds(
    "int8",
    box_atol_px=None,
    box_rtol=0.0,
    score_atol=None,
    score_logit=0.0,
    raw_rtol=None,
    raw_min_snr_db=None,
    min_cosine=0.99,
    match_iou=0.5,
    min_match_rate=0.9,
    cut_rel=1.0,
    max_map_drop=MAX_MAP_DROP,
    weight_steps=1.0,
    # label-free mAP50-95 against FP32's detections (verify.fidelity), 32 check images, measured on
    # the YOLO11 / YOLO26 fixtures and the four held-out ones (docs/measurements/
    # 2026-12-07-int8-fidelity.md): the default recipe 0.968-0.993 (mAP drop -0.2..0.5 points);
    # naive exports (head quantized) 0.20-0.78 on onnxruntime (drop 5-54 points), 0.90-0.92 on
    # OpenVINO (drop 1.3-3.0). 0.9 fails the first kind with 0.07 to spare for valid models; losses
    # of 1-3 points stay for --val to see. Bounded for detection models only (the only ones measured)
    min_fidelity=0.9,
    why="quantization: detections and mAP decide, box tensors keep their shape",
)
BOUNDS: Dict[str, Bounds] = {b.precision: b for b in (FP32, FP16, BF16, INT8)}


def bounds_for(precision: str) -> Bounds:
    """The bounds of ``precision`` ("mixed" INT8 models with float layers are INT8)."""
    return BOUNDS["int8" if precision == "mixed" else precision]


#: a DETR head keeps its Q queries by a top-k over encoder scores that tie within float noise: up to
#: 1 % of them may be swapped for their neighbour at the boundary (measured: 1 of 300 on untrained
#: rtdetrv2_r50vd, onnxruntime against PyTorch; a real defect moves every query's rows)
QUERY_SWAPS = 0.01


def for_queries(bounds: Bounds) -> Bounds:
    """``bounds`` for a query head's rows (``QUERY_SWAPS``)."""
    return replace(bounds, query_swaps=QUERY_SWAPS)
