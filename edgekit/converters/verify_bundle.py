"""Conversion verifies itself: every artifact of the written bundle against the PyTorch model.

Three checks per artifact, each through ``edgekit.verify`` with the bounds of its precision:

1. **preprocess**: the bundle's input tensor (its ``Preprocessor`` reading the manifest) against the
   family's preprocessing written plainly (``edgekit.verify.reference_input``), on images of other
   sizes than the input, so the letterbox bands, pad value, colour order and scale are exercised;
2. **outputs**: the artifact's raw outputs against the exported torch module on the *same* pixels
   (a uint8-input model gets the integer pixels the module sees dequantized, so input rounding is
   never taken for a model difference), each output bounded by its role;
3. **detections**: the ``Detector``'s detections in original-image pixels against the train-form
   model's, decoded by the family's reference decode (``edgekit.contract.decode`` with the family's
   ``HeadSpec``, not the manifest's) after the reference preprocessing. When the reference finds too
   few detections, the top-k candidates per image are compared instead.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edgekit import progress
from edgekit._optional import require
from edgekit.backends import BACKENDS
from edgekit.bundle import Bundle, Manifest
from edgekit.bundle.manifest import Artifact
from edgekit.contract.decode import decode, topk_end2end
from edgekit.contract.model import LoadedModel
from edgekit.converters.verify_reference import Reference
from edgekit.decoding import DecodeOptions
from edgekit.decoding.preprocess import dequantize
from edgekit.errors import VerificationError
from edgekit.verify import (
    BOX_ROLES,
    SCORE_ROLES,
    VERIFY_IOU,
    Bounds,
    Dets,
    agreement,
    bounds_for,
    check_outputs,
    float_noise,
    merge,
)
from edgekit.verify.bounds import for_queries
from edgekit.verify.detections import describe as describe_matches

VERIFY_IMAGES = 4
# generated images: the input size itself, then landscape, portrait and a large frame, so that the
# letterbox bands and the resize are part of every check (height, width as multiples of the input)
GENERATED_SHAPES = ((1.0, 1.0), (0.75, 1.5), (1.25, 0.8), (2.25, 4.0))
Log = Callable[[str], None]


@dataclass
class Samples:
    """The images verification runs on (RGB uint8) and where they came from."""

    images: List[np.ndarray]
    source: str  # "generated" or the user's --calib / --val path

    def to_dict(self) -> Dict[str, Any]:
        sizes = [list(i.shape[:2]) for i in self.images]
        return {"source": self.source, "count": len(self.images), "sizes": sizes}


def sample_images(
    manifest: Manifest, user: Optional[Path] = None, count: int = VERIFY_IMAGES, split: Optional[str] = None
) -> Samples:
    """``count`` images of the user's ``--calib`` / ``--val`` source when given, else generated ones."""
    if user is not None:
        from edgekit.calibration import CalibrationData

        data = CalibrationData(user, manifest, count=count, seed=1, split=split, min_recommended=0)
        return Samples([np.ascontiguousarray(img[..., ::-1]) for img in data.images()], str(user))
    from edgekit.reparam.samples import synthetic_images

    h, w = manifest.input.height, manifest.input.width
    images = [
        synthetic_images((max(8, int(h * a)), max(8, int(w * b))), 1, seed=1 + i)[0]
        for i, (a, b) in enumerate(GENERATED_SHAPES[:count])
    ]
    return Samples(images, "generated")


def model_input(x: np.ndarray, manifest: Manifest) -> np.ndarray:
    """The float tensor the exported module takes for the runtime's input ``x`` (uint8 pixels or float)."""
    q = manifest.input.quantization
    return x if q is None else dequantize(x, q)


def verify_iou(manifest: Manifest) -> float:
    """NMS IoU of the comparison: the graph's own where NMS is baked into the model."""
    return manifest.decoder.iou_threshold if manifest.decoder.type == "graph-nms" else VERIFY_IOU


def decode_floor(manifest: Manifest) -> float:
    """The lowest score a model's decoded output can hold: its threshold where NMS is in the graph."""
    return manifest.decoder.conf_threshold if manifest.decoder.type == "graph-nms" else 0.0


def expected_outputs(exported: Any, x: np.ndarray, manifest: Manifest) -> Dict[str, np.ndarray]:
    """The exported torch module's outputs by manifest name (plus the host interface's best scores)."""
    torch = require("torch")
    with torch.no_grad():
        out = exported(torch.from_numpy(x))
    out = out if isinstance(out, (tuple, list)) else (out,)
    names = [o.name for o in manifest.outputs if o.role not in ("nms_indices", "best_scores", "best_classes")]
    expected = {n: t.numpy() for n, t in zip(names, out)}
    best = [o.name for o in manifest.outputs if o.role == "best_scores"]
    score = next((o for o in manifest.outputs if o.role == "scores"), None)
    if best and score is not None:
        axis = 1 if score.layout == "BCN" else -1
        expected[best[0]] = expected[score.name].max(axis)
    return expected


class FloatNoise:
    """The exported module's own float32 rounding on an input: ``FLOAT_NOISE_FACTOR`` times
    max |f32 - f64| per output (its outputs run again in float64). Empty where the module does not
    run in float64; cached per input, as every artifact is checked on the same images."""

    def __init__(self, exported: Any) -> None:
        self.exported = exported
        self.double: Any = None
        self.failed = False
        self.cache: Dict[bytes, Dict[str, float]] = {}  # by input and output names

    def __call__(self, x: np.ndarray, manifest: Manifest, f32: Dict[str, np.ndarray]) -> Dict[str, float]:
        key = x.tobytes() + "|".join(sorted(f32)).encode()  # each artifact's own outputs
        if key not in self.cache:
            self.cache[key] = self._measure(x, manifest, f32)
        return self.cache[key]

    def _measure(self, x: np.ndarray, manifest: Manifest, f32: Dict[str, np.ndarray]) -> Dict[str, float]:
        if self.failed:
            return {}
        try:
            if self.double is None:
                self.double = copy.deepcopy(self.exported).double()
            f64 = expected_outputs(self.double, x.astype(np.float64), manifest)
        except (RuntimeError, TypeError, ValueError):  # an op or buffer that stays float32
            self.failed = True
            return {}
        return {n: float_noise(f32[n], f64[n]) for n in f32 if n in f64}


def expected_outputs_by_role(
    model: Any, head: Any, x: np.ndarray, manifest: Manifest
) -> Dict[str, np.ndarray]:
    """The train-form ``model``'s outputs in ``manifest``'s output form, by role, from the family's
    reference decode (``edgekit compare CHECKPOINT BUNDLE``). Raw DFL outputs are not produced."""
    torch = require("torch")
    raw = model(torch.from_numpy(x))
    if head.task != "detect":  # a task head's outputs in the order the manifest lists them
        from edgekit.reparam.task_heads import task_reference

        tensors = task_reference(raw, head, end2end=manifest.decoder.type == "nms-free")
        return {
            spec.name: (t.transpose(1, 2) if t.dim() == 3 and spec.layout == "BCN" else t).numpy()
            for spec, t in zip(manifest.outputs, tensors)
        }
    boxes, scores = decode(raw, head)  # (B, N, 4), (B, N, nc)
    out: Dict[str, np.ndarray] = {}
    for spec in manifest.outputs:
        if spec.role == "detections":
            out[spec.name] = topk_end2end(boxes, scores, spec.shape[1]).numpy()
            continue
        value = {
            "boxes": boxes,
            "scores": scores,
            "boxes_scores": torch.cat((boxes, scores), -1),
            "best_scores": scores.max(-1).values,
            "best_classes": scores.argmax(-1).to(boxes.dtype),
        }.get(spec.role)
        if value is None:
            continue
        if value.dim() == 3 and spec.layout == "BCN":
            value = value.transpose(1, 2)
        out[spec.name] = value.numpy()
    return out


def compare_detections(
    runs: Sequence[Dict[str, Any]], det: Any, reference: Reference, bounds: Bounds
) -> Dict[str, Any]:
    """Detections of every run (one image each) against the reference (``edgekit.verify.agreement``:
    top-k candidates when the reference finds fewer than ``MIN_DETECTIONS`` in all)."""
    manifest = det.manifest
    floor, iou = decode_floor(manifest), verify_iou(manifest)

    def decoded(conf: float, max_det: int) -> List[Tuple[Dets, Dets, float]]:
        opts = DecodeOptions(conf, iou, max_det)
        return [
            (
                reference.detections(run["x_ref"], run["geometry_ref"], opts),
                Dets.of(det.decoder(run["outputs"], [run["geometry"]], opts)[0]),
                run["geometry"].gain_x,
            )
            for run in runs
        ]

    return agreement(decoded, bounds, floor)


def _problems(
    levels: float, bounds: Any, m: Manifest, outputs: Sequence[Any], detections: Dict[str, Any]
) -> List[str]:
    """What an artifact's check found out of bounds, first the preprocessing."""
    problems = []
    if not levels <= bounds.preprocess_levels:
        problems.append(
            f"preprocess: the bundle's input differs from the model's preprocessing by {levels:.0f} pixel "
            f"levels (manifest resize/pad/colour/scale: {m.preprocess})"
        )
    problems += [f"output '{r.name}' ({r.role}): {r.problem}" for r in outputs if not r.ok]
    if not detections["ok"]:
        problems.append(f"detections differ from PyTorch: {describe_matches(detections)}")
    return problems


def _track_noise(float_noise: Dict[str, float], own: Dict[str, float], roles: Dict[str, str]) -> None:
    """Keep the largest scaled f32 rounding of the model's boxes and scores in ``float_noise``."""
    for name, value in own.items():
        role = roles.get(name)
        kind = "boxes_px" if role in BOX_ROLES else "scores" if role in SCORE_ROLES else ""
        if kind:
            float_noise[kind] = max(float_noise[kind], value)


def verify_artifact(
    root: Path,
    manifest: Manifest,
    artifact: Artifact,
    reference: Reference,
    exported: Any,
    samples: Samples,
    noise: Optional[FloatNoise] = None,
) -> Dict[str, Any]:
    """Check ``artifact`` (its precision's bounds, widened by the model's own float32 rounding:
    ``FloatNoise``); returns its figures, ``ok`` and the first problem."""
    noise = noise or FloatNoise(exported)
    from edgekit.converters.int8 import runnable, single
    from edgekit.detector import Detector

    # a model built on the device is checked here as the ONNX it is built from, which holds FP32
    precision = "fp32" if BACKENDS.get(artifact.backend).built_on_device else artifact.precision
    bounds = bounds_for(precision)
    if reference.head.queries:  # a query swapped at the selection boundary is not a difference
        bounds = for_queries(bounds)
    runs: List[Dict[str, Any]] = []
    rows = []
    levels = 0.0
    float_noise = {"boxes_px": 0.0, "scores": 0.0}  # scaled f32 rounding of the model itself
    backend = runnable(artifact).backend
    with Detector(Bundle(root, single(manifest, artifact)), backend=backend, threads=1) as det:
        m = det.manifest
        roles = {o.name: o.role for o in m.outputs}
        layouts = {o.name: o.layout for o in m.outputs}
        for image in samples.images:
            pixels, geometry = det.preprocess(image, color="RGB")
            x = model_input(pixels, m)
            x_ref, geometry_ref = reference.input(image)
            levels = max(levels, float(np.abs(x - x_ref).max()) / m.preprocess.scale)
            got = det.runtime.infer(pixels.copy())
            want = expected_outputs(exported, x, m)
            own = noise(x, m, want)
            rows.append(check_outputs(got, want, roles, bounds, layouts, own))
            runs.append({"outputs": got, "geometry": geometry, "x_ref": x_ref, "geometry_ref": geometry_ref})
            _track_noise(float_noise, own, roles)
        widened = bounds.widened(float_noise["boxes_px"], float_noise["scores"])
        detections = compare_detections(runs, det, reference, widened)
    outputs = merge(rows)
    problems = _problems(levels, bounds, m, outputs, detections)
    return {
        "precision": precision,
        "bounds": bounds.precision,
        "preprocess_max_levels": levels,
        "float_noise": {k: round(v, 9) for k, v in float_noise.items()},
        "outputs": [r.to_dict() for r in outputs],
        "detections": detections,
        "ok": not problems,
        "problems": problems,
    }


def check_line(backend: str, figures: Dict[str, Any], images: int) -> str:
    """One line per verified artifact: the worst output against its bound, and the detections."""
    worst = max(figures["outputs"], key=lambda r: r.get("worst") or 0.0, default=None)
    bound = "outputs in bounds"
    if worst and worst.get("worst"):
        bound = f"worst output {worst['name']} at {worst['worst']:.2g}x its bound ({worst['bound']})"
    return (
        f"verified {backend} {figures['precision']} on {images} images: preprocess identical "
        f"(max {figures['preprocess_max_levels']:.0f} levels), {bound}, "
        f"{describe_matches(figures['detections'])}"
    )


def verify_bundle(
    root: Path, manifest: Manifest, loaded: LoadedModel, exported: Any, samples: Samples, say: Log
) -> Dict[str, Any]:
    """Verify every artifact; raises ``VerificationError`` naming the artifact and its first problem.

    Returns the manifest's ``verification`` figures: the images, the bounds of every precision used
    and each backend's figures."""
    reference = Reference(loaded, manifest)
    noise = FloatNoise(exported)
    per_backend: Dict[str, Any] = {}
    for art in manifest.artifacts:
        progress.note(f"verifying {art.backend} ({art.path}) against PyTorch")
        figures = verify_artifact(root, manifest, art, reference, exported, samples, noise)
        if not figures["ok"]:
            raise VerificationError(
                f"{art.backend} {figures['precision']} ({art.path}): {figures['problems'][0]}"
            )
        say(check_line(art.backend, figures, len(samples.images)))
        per_backend[art.backend] = figures
    used = sorted({f["bounds"] for f in per_backend.values()})
    return {
        "images": samples.to_dict(),
        "bounds": {p: bounds_for(p).to_dict() for p in used},
        "backends": per_backend,
    }
