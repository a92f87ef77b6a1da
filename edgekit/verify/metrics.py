"""Tensor metrics: the numbers every comparison in edgekit is made of.

Works on numpy arrays and torch tensors alike (converted with ``numpy.asarray``, torch is never
imported). ``max_rel_error`` (``max|a - b| / max|b|``) is the raw-tensor metric of the
golden tests and the reparameterization passes, whose outputs are logits and distances of a
well-defined scale; decoded outputs (pixels, probabilities) are bounded by what they mean in
``edgekit.verify.tensors``.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence

import numpy as np

from edgekit.errors import VerificationError

#: raw tensors (logits, distances) of two FP32 computations of the same function, torch vs torch
TOLERANCE = 1e-4
SNR_CAP_DB = 120.0  # identical tensors: a finite, large SNR


def as_array(x: Any) -> np.ndarray:
    """``x`` as a float64 numpy array (torch tensors detached and moved to the CPU)."""
    if hasattr(x, "detach"):  # torch tensor, without importing torch here
        x = x.detach().cpu().float().numpy()
    return np.asarray(x, dtype=np.float64)


def max_abs_error(a: Any, b: Any) -> float:
    """``max|a - b|`` (0 for empty tensors; inf on a shape mismatch or a non-finite difference)."""
    a, b = as_array(a), as_array(b)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    diff = np.abs(a - b)
    return float(np.max(diff)) if np.all(np.isfinite(diff)) else float("inf")


def max_rel_error(a: Any, b: Any) -> float:
    """``max|a - b| / max|b|`` (0 when both are all zero; inf on a shape mismatch)."""
    a, b = as_array(a), as_array(b)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    diff = max_abs_error(a, b)
    scale = float(np.max(np.abs(b)))
    if scale == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return diff / scale


def is_equivalent(a: Any, b: Any, tol: float = TOLERANCE) -> bool:
    return max_rel_error(a, b) <= tol


def assert_equivalent(a: Any, b: Any, name: str = "output", tol: float = TOLERANCE) -> float:
    """Raise ``VerificationError`` unless raw tensor ``a`` matches the reference ``b``; returns the error."""
    a_arr, b_arr = as_array(a), as_array(b)
    if a_arr.shape != b_arr.shape:
        raise VerificationError(f"{name}: shape {a_arr.shape} != reference {b_arr.shape}")
    err = max_rel_error(a_arr, b_arr)
    if not err <= tol:
        raise VerificationError(f"{name}: max|a-b|/max|b| = {err:.3g} exceeds {tol:g}")
    return err


def compare_outputs(
    actual: Sequence[Any], reference: Sequence[Any], names: Sequence[str], tol: float = TOLERANCE
) -> Dict[str, float]:
    """Per-output relative errors of raw tensors; raises ``VerificationError`` naming the first that fails."""
    if len(actual) != len(reference):
        raise VerificationError(f"{len(actual)} outputs != {len(reference)} reference outputs")
    return {n: assert_equivalent(a, b, n, tol) for a, b, n in zip(actual, reference, names)}


def cosine_similarity(a: Any, b: Any) -> float:
    """Cosine similarity of two tensors, flattened, in float64 (1.0 for two zero tensors)."""
    x, y = as_array(a).ravel(), as_array(b).ravel()
    norm = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y) / norm if norm > 0 else float(np.array_equal(x, y))


def snr_db(reference: Any, actual: Any) -> float:
    """Signal-to-noise ratio of ``actual`` against ``reference`` in dB (capped at ``SNR_CAP_DB``)."""
    ref = as_array(reference)
    noise = float(np.sum((ref - as_array(actual)) ** 2))
    signal = float(np.sum(ref**2))
    if noise == 0.0:
        return SNR_CAP_DB
    if signal == 0.0 or not np.isfinite(noise):
        return -SNR_CAP_DB
    return float(min(SNR_CAP_DB, 10.0 * np.log10(signal / noise)))
