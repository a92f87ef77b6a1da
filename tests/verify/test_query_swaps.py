"""Query heads: a query swapped at the selection boundary is not a difference, a moved query is.

A DETR head keeps the Q best of thousands of encoder cells; where their scores tie within float
noise two equal models may keep another query at the boundary, and all of its rows (one box, a row
per class) lack a partner. ``edgekit.verify.bounds.for_queries`` allows that for up to 1 % of the
queries; the same rows fail without it, and so does a box that moved.
"""

from __future__ import annotations

import numpy as np

from edgekit.verify import FP32
from edgekit.verify.bounds import for_queries
from edgekit.verify.tensors import check_output


def rows(queries: int = 100, seed: int = 0) -> np.ndarray:
    """(1, 2 * queries, 6) top-k rows: each query's box with its two best classes, scores apart."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 500, (queries, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(10, 100, (queries, 2))], 1)
    scores = np.linspace(0.9, 0.1, 2 * queries)
    out = np.zeros((2 * queries, 6), np.float32)
    out[:, :4] = np.repeat(boxes, 2, axis=0)
    out[:, 4] = scores
    out[:, 5] = np.tile([1, 3], queries)
    return out[None]


def swap(reference: np.ndarray, queries: int) -> np.ndarray:
    """The same rows with the first ``queries`` queries' boxes replaced by other queries' boxes."""
    actual = reference.copy()
    for q in range(queries):
        actual[0, 2 * q : 2 * q + 2, :4] += np.float32(250.0)
    return actual


def test_one_swapped_query_passes_for_a_query_head_only() -> None:
    reference = rows()
    actual = swap(reference, 1)
    assert check_output("detections", "detections", actual, reference, for_queries(FP32)).ok
    assert not check_output("detections", "detections", actual, reference, FP32).ok


def test_more_than_one_percent_swapped_or_a_moved_box_fails() -> None:
    reference = rows()
    assert not check_output("detections", "detections", swap(reference, 2), reference, for_queries(FP32)).ok
    moved = reference.copy()
    moved[0, :, 0] += np.float32(0.5)  # every box half a pixel off: a defect, not a swap
    assert not check_output("detections", "detections", moved, reference, for_queries(FP32)).ok
