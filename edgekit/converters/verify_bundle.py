"""Conversion verifies itself: the written bundle against the PyTorch model, on sample images."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np

from edgekit._optional import require
from edgekit.bundle import Bundle, Manifest
from edgekit.bundle.manifest import DecoderSpec, OutputSpec
from edgekit.converters.verification import match_detections, summarize_matches
from edgekit.decoding import DecodeOptions, make_decoder
from edgekit.decoding.preprocess import dequantize
from edgekit.detector import Detector
from edgekit.errors import VerificationError
from edgekit.models.base import HeadSpec
from edgekit.models.decode import decode, topk_end2end
from edgekit.verify import TOLERANCE, cosine_similarity, max_rel_error

VERIFY_IMAGES = 4
VERIFY_CONF = 0.05  # low, so that every image yields many detections to compare
VERIFY_MAX_DET = 3000  # no max_det cut: ranks among near-tied scores at the cut are not meaningful
# NMS at IoU 0.99 removes only exact duplicates, so every decoded candidate is compared: with
# saturated scores (untrained weights) greedy NMS breaks near-ties by rank, which FP32 noise can
# flip. NMS itself is deterministic code with its own tests.
VERIFY_IOU = 0.99
# Untrained models also tie class scores at 1.0, so FP32 noise may pick the other class of a
# tie for a few anchors (~2.5 % on DAMO-YOLO-T with random BatchNorm); trained models match ~1.0.
# A preprocessing or decoding bug drops the rate far below this.
MIN_MATCH_RATE = 0.95


def verify_iou(manifest: Manifest) -> float:
    """NMS IoU of the comparison: the graph's own where NMS is baked into the model."""
    return manifest.decoder.iou_threshold if manifest.decoder.type == "graph-nms" else VERIFY_IOU


def reference_detections(model: Any, x: np.ndarray, manifest: Manifest, head: HeadSpec, geometry: Any) -> Any:
    """Detections of the ORIGINAL (train-form) model, decoded with the torch reference decode."""
    torch = require("torch")
    with torch.no_grad():
        boxes, scores = decode(model(torch.from_numpy(x)), head)
        if manifest.decoder.type == "nms-free":
            det = topk_end2end(boxes, scores, manifest.decoder.max_det).numpy()
            ref = replace(manifest, outputs=(OutputSpec("d", "detections", det.shape),))
            outputs = {"d": det}
        else:
            ref = replace(
                manifest,
                outputs=(
                    OutputSpec("b", "boxes", tuple(boxes.shape)),
                    OutputSpec("s", "scores", tuple(scores.shape)),
                ),
                decoder=DecoderSpec("nms", manifest.decoder.conf_threshold, verify_iou(manifest)),
            )
            outputs = {"b": boxes.numpy(), "s": scores.numpy()}
    opts = DecodeOptions(VERIFY_CONF, verify_iou(manifest), VERIFY_MAX_DET)
    return make_decoder(ref)(outputs, [geometry], opts)[0]


# FP16 IR (weights rounded to FP16, computed in f32): a looser, explicitly named tolerance.
FP16_MIN_COSINE = 0.999  # cosine similarity of every raw output with the exported module's
FP16_MIN_MATCH_RATE = 0.9  # detections matched by class and IoU >= 0.5 (FP32: MIN_MATCH_RATE)


def model_input(x: np.ndarray, manifest: Manifest) -> np.ndarray:
    """The float tensor the exported module takes for the runtime's input ``x`` (uint8 pixels or float)."""
    q = manifest.input.quantization
    return x if q is None else dequantize(x, q)


def extra_references(manifest: Manifest, names: List[str], expected: Any) -> Dict[str, Any]:
    """Reference values of an artifact's per-anchor best scores, from the module's scores. (Its best
    classes are checked through the detections: near-tied class scores may pick either class.)"""
    best = [o for o in manifest.outputs if o.role == "best_scores"]
    if not best:
        return {}
    scores = expected[names.index(next(o.name for o in manifest.outputs if o.role == "scores"))]
    return {best[0].name: scores.max(1).values}


def verify_bundle(
    root: Path,
    manifest: Manifest,
    original: Any,
    deploy: Any,
    exported: Any,
    say: Callable[[str], None],
) -> Dict[str, Any]:
    """Every artifact: raw outputs (vs the exported torch module) and detections (vs the original model).

    FP32 artifacts must be equivalent (``TOLERANCE``); FP16 ones meet ``FP16_MIN_COSINE`` and
    ``FP16_MIN_MATCH_RATE``. Raises ``VerificationError`` on a mismatch; returns the figures for the
    manifest: those of the first FP32 artifact at the top level, and every artifact's under ``backends``.
    """
    from edgekit.converters.int8 import single

    per_backend = {}
    for art in manifest.artifacts:  # a TensorRT artifact is its ONNX, run in onnxruntime here
        runnable = single(manifest, art)
        backend = runnable.artifacts[0].backend
        precision = "fp32" if art.backend == "tensorrt" else art.precision  # the ONNX holds FP32 weights
        per_backend[art.backend] = verify_artifact(
            root, runnable, backend, precision, original, exported, say
        )
    fp32 = [a.backend for a in manifest.artifacts if a.precision == "fp32"]
    top = dict(per_backend[fp32[0] if fp32 else manifest.artifacts[0].backend])
    top.pop("precision", None)
    return {**top, "backends": per_backend}


def verify_artifact(
    root: Path,
    manifest: Manifest,
    backend: str,
    precision: str,
    original: Any,
    exported: Any,
    say: Callable[[str], None],
) -> Dict[str, Any]:
    """Verify the ``backend`` artifact of the bundle; returns its figures."""
    torch = require("torch")
    from edgekit.reparam.head_passes import compare_topk
    from edgekit.reparam.samples import synthetic_images

    head = HeadSpec(
        strides=manifest.decoder.strides,
        bins=manifest.decoder.bins,
        anchor_offset=manifest.decoder.anchor_offset,
        max_det=manifest.decoder.max_det,
        nc=len(manifest.class_names),
    )
    loose = precision != "fp32"
    images = synthetic_images((manifest.input.height, manifest.input.width), VERIFY_IMAGES, seed=1)
    raw_errors: Dict[str, float] = {}
    cosines: Dict[str, float] = {}
    matches: List[Dict[str, Any]] = []
    bundle = Bundle(root, manifest)
    options = {"conf": VERIFY_CONF, "iou": verify_iou(manifest), "max_det": VERIFY_MAX_DET}
    with Detector(bundle, backend=backend, threads=1, **options) as det:
        names = [o.name for o in manifest.outputs if o.role != "nms_indices"]
        for image in images:
            pixels, geometry = det.preprocess(image, color="RGB")
            got = det.runtime.infer(pixels.copy())
            x = model_input(pixels, det.manifest)
            with torch.no_grad():
                expected = exported(torch.from_numpy(x))
            expected = expected if isinstance(expected, (tuple, list)) else (expected,)
            extra = extra_references(det.manifest, names, expected)
            names_here = names + list(extra)
            expected = (*expected, *extra.values())
            for name, ref in zip(names_here, expected):
                if manifest.decoder.type == "nms-free":  # top-k rows: near-tied scores may swap ranks
                    err = max(compare_topk(torch.from_numpy(got[name]), ref, TOLERANCE).values())
                else:
                    err = max_rel_error(got[name], ref.numpy())
                raw_errors[name] = max(raw_errors.get(name, 0.0), err)
                cos = cosine_similarity(got[name], ref.numpy())
                cosines[name] = min(cosines.get(name, 1.0), cos)
            actual = det.decoder(got, [geometry], det.options)[0]
            reference = reference_detections(original, x, manifest, head, geometry)
            matches.append(match_detections(reference, actual))
    summary = summarize_matches(matches)
    figures: Dict[str, Any] = {
        "precision": precision,
        "raw_max_rel_error": raw_errors,
        "raw_min_cosine": cosines,
        "detections": summary,
        "conf": VERIFY_CONF,
    }
    if loose:
        figures.update(min_cosine=FP16_MIN_COSINE, min_match_rate=FP16_MIN_MATCH_RATE)
        bad = {k: v for k, v in cosines.items() if not v >= FP16_MIN_COSINE}
        if bad:
            raise VerificationError(
                f"{backend} {precision} outputs differ from PyTorch: cosine {bad} < {FP16_MIN_COSINE}"
            )
    else:
        figures.update(tolerance=TOLERANCE, min_match_rate=MIN_MATCH_RATE)
        bad = {k: v for k, v in raw_errors.items() if not v <= TOLERANCE}
        if bad:
            raise VerificationError(
                f"{backend}: exported model differs from PyTorch: {bad} (tolerance {TOLERANCE:g})"
            )
    min_rate = figures["min_match_rate"]
    if summary["match_rate"] < min_rate:
        raise VerificationError(
            f"{backend} {precision}: detections differ from PyTorch: match rate {summary['match_rate']:.3f}"
            f" < {min_rate} ({summary['matched']}/{summary['reference']} matched)"
        )
    worst = max(raw_errors.values(), default=0.0)
    say(
        f"verified on {len(images)} images ({backend} {precision}): max rel error {worst:.2e}, "
        f"min cosine {min(cosines.values(), default=1.0):.6f}, "
        f"{summary['matched']}/{summary['reference']} detections matched (max {summary['max_box_px']:.3f} px)"
    )
    return figures
