"""Compare a bundle's detections with the PyTorch model's, image by image."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from edgekit.contract.model import LoadedModel
from edgekit.converters.engine import ConvertOptions, convert_loaded
from edgekit.converters.verify_bundle import Reference
from edgekit.decoding import DecodeOptions
from edgekit.detector import Detector
from edgekit.reparam.samples import synthetic_images
from edgekit.verify import Dets

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"


def convert_quietly(loaded: LoadedModel, dest: Path, target: str, imgsz: Any, **options: Any) -> Path:
    """``convert_loaded`` as the tests call it: no latency measurement, the rest as the CLI."""
    return convert_loaded(loaded, dest, ConvertOptions(target=target, imgsz=imgsz, measure=False, **options))


def verified(manifest: Dict[str, Any], backends: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """The conversion's verification figures, asserted: every output within its bound and the
    detections (or top-k candidates) found both ways, never vacuously. Returns them by backend."""
    figures = manifest["verification"]["backends"]
    assert figures and (backends is None or set(backends) <= set(figures)), figures.keys()
    for backend, fig in figures.items():
        assert fig["ok"] and not fig["problems"], (backend, fig["problems"])
        assert fig["outputs"] and all(row["ok"] for row in fig["outputs"]), (backend, fig["outputs"])
        assert fig["bounds"] in manifest["verification"]["bounds"]
        det = fig["detections"]
        if det.get("tied"):  # a score plateau: compared by sorted scores (edgekit.verify.detections)
            assert det["ok"] and det["score_levels_worst"] <= 1.0 and det["reference"] > 0, (backend, det)
            continue
        assert det["ok"] and det["required"] > 0, (backend, det)
        if fig["bounds"] == "fp32":  # float rounding alone: every detection found
            assert det["found"] == det["required"], (backend, det)
        else:  # reduced precision (bf16 on the cpu target of a bf16 CPU): its recorded match rate
            rate = manifest["verification"]["bounds"][fig["bounds"]]["min_match_rate"]
            assert det["found"] >= rate * det["required"], (backend, det, rate)
    return figures


def _dets(d: Any) -> Dets:
    return d if isinstance(d, Dets) else Dets.of(d)


def strict_matches(reference: Any, actual: Any, px: float = 0.5) -> int:
    """Reference detections that have an actual one of the same class with every corner within ``px``."""
    reference, actual = _dets(reference), _dets(actual)
    matched = 0
    used = np.zeros(len(actual), dtype=bool)
    for i in range(len(reference)):
        same = np.flatnonzero((actual.classes == reference.classes[i]) & ~used)
        if len(same) == 0:
            continue
        dev = np.abs(actual.xyxy[same] - reference.xyxy[i]).max(1)
        j = same[np.argmin(dev)]
        if dev.min() <= px:
            used[j] = True
            matched += 1
    return matched


def compare_with_torch(
    bundle: Path, loaded: LoadedModel, conf: float = 0.05, images: int = 3, iou: float = 0.99
) -> List[Dict]:
    """Per image: reference count, bundle count and strictly matched detections.

    NMS runs at IoU ``iou`` on both sides: untrained fixtures saturate their scores, and greedy
    NMS then breaks near-ties by rank, which FP32 noise may flip. At 0.99 only exact duplicates
    are suppressed, so every decoded candidate (box, class, score) is compared; NMS itself is
    tested against a textbook greedy NMS in tests/decoding.
    """
    return detection_rows(bundle, loaded, None, conf=conf, images=images, iou=iou)


def detection_rows(
    bundle: Path,
    loaded: LoadedModel,
    backend: Optional[str],
    conf: float = 0.05,
    images: int = 3,
    iou: float = 0.99,
    px: float = 0.5,
) -> List[Dict]:
    """``compare_with_torch`` for one backend of the bundle (None: the Detector's default)."""
    rows = []
    with Detector(bundle, backend=backend, conf=conf, iou=iou, max_det=3000, threads=1) as det:
        m = det.manifest
        reference = Reference(loaded, m)
        opts = DecodeOptions(conf, iou, 3000)
        for image in synthetic_images((m.input.height, m.input.width), images, seed=7):
            pixels, geometry = det.preprocess(image, color="RGB")
            actual = det.decoder(det.runtime.infer(pixels.copy()), [geometry], opts)[0]
            x, geometry_ref = reference.input(image)
            ref = reference.detections(x, geometry_ref, opts)
            rows.append(
                {"reference": len(ref), "actual": len(actual), "matched": strict_matches(ref, actual, px)}
            )
    return rows
