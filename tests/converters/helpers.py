"""Compare a bundle's detections with the PyTorch model's, image by image."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Dict, List

import numpy as np

from edgekit.converters.verify_bundle import model_input, reference_detections
from edgekit.decoding import Detections
from edgekit.detector import Detector
from edgekit.models.base import LoadedModel
from edgekit.reparam.samples import synthetic_images

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"


def strict_matches(reference: Detections, actual: Detections, px: float = 0.5) -> int:
    """Reference detections that have an actual one of the same class with every corner within ``px``."""
    matched = 0
    used = np.zeros(len(actual), dtype=bool)
    for i in range(len(reference)):
        same = np.flatnonzero((actual.class_id == reference.class_id[i]) & ~used)
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
    det = Detector(bundle, conf=conf, iou=iou, max_det=3000, threads=1)
    m = replace(det.manifest, decoder=replace(det.manifest.decoder, iou_threshold=iou))
    head = loaded.info.head
    rows = []
    for image in synthetic_images((m.input.height, m.input.width), images, seed=7):
        pixels, geometry = det.preprocess(image, color="RGB")
        actual = det.decoder(det.runtime.infer(pixels.copy()), [geometry], det.options)[0]
        x = model_input(pixels, det.manifest)
        ref = reference_detections(loaded.model, x, m, head, geometry)
        ref = ref[ref.confidence > conf]
        rows.append({"reference": len(ref), "actual": len(actual), "matched": strict_matches(ref, actual)})
    return rows
