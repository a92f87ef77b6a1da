"""Masks as JSON: COCO's uncompressed run-length encoding, and back.

``{"size": [h, w], "counts": [zeros, ones, zeros, ...]}`` over the mask read column by column
(Fortran order), starting with a run of zeros, as ``pycocotools`` and faster-coco-eval read it.
"""

from __future__ import annotations

from typing import Any, Dict

import numpy as np


def mask_to_rle(mask: np.ndarray) -> Dict[str, Any]:
    """One (H, W) bool mask as uncompressed COCO RLE."""
    h, w = mask.shape
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(edges).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]  # runs start with zeros
    return {"size": [int(h), int(w)], "counts": [int(c) for c in counts]}


def rle_to_mask(rle: Dict[str, Any]) -> np.ndarray:
    """The (H, W) bool mask of an uncompressed COCO RLE."""
    h, w = rle["size"]
    counts = np.asarray(rle["counts"], dtype=np.int64)
    if counts.sum() != h * w:
        raise ValueError(f"RLE counts sum to {counts.sum()}, not {h} x {w}")
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts).reshape((w, h)).T.copy()
