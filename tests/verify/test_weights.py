"""``edgekit.verify.weights``: quantized weights read back against FP32, in quantization steps.

Valid quantizations (per tensor, per channel on either axis, symmetric and asymmetric, with the
ranges real quantizers use) stay within half a step; each defect a quantizer could make (a scale
off by 10x or by 2x on one channel, the scales applied on the wrong axis, a zero point dropped, the
weight of another layer) lands far above the one-step bound.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.verify import INT8
from edgekit.verify.weights import check_weight, dequantize, summarize_weights

BOUND = float(INT8.weight_steps or 0)


def _symmetric(w: np.ndarray, axis: int, bits: int = 8) -> tuple:
    """Per-channel symmetric int8, as onnxruntime's and NNCF's weight quantizers do."""
    others = tuple(i for i in range(w.ndim) if i != axis)
    top = 2 ** (bits - 1) - 1
    scale = (np.abs(w).max(axis=others) / top).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.round(w / scale.reshape(shape)), -top, top).astype(np.int8)
    return q, scale, np.zeros_like(q, shape=scale.shape)


def _asymmetric(w: np.ndarray) -> tuple:
    """Per-tensor asymmetric uint8 (minmax including zero)."""
    lo, hi = min(float(w.min()), 0.0), max(float(w.max()), 0.0)
    scale = np.float32((hi - lo) / 255)
    zp = np.uint8(np.round(-lo / scale))
    q = np.clip(np.round(w / scale) + zp, 0, 255).astype(np.uint8)
    return q, np.asarray(scale), np.asarray(zp)


@pytest.fixture()
def conv() -> np.ndarray:
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.05, (32, 16, 3, 3)).astype(np.float32)
    w[3] *= 40  # one channel with a far larger range, as after BatchNorm folding
    return w


@pytest.mark.parametrize("axis", [0, 1])
def test_valid_per_channel_weights_are_within_half_a_step(conv: np.ndarray, axis: int) -> None:
    q, scale, zp = _symmetric(conv, axis)
    check = check_weight("w", q, scale, zp, axis, conv, BOUND)
    assert check.ok and 0.3 < check.steps <= 0.5 + 1e-6, check


def test_valid_per_tensor_asymmetric_weights_are_within_half_a_step(conv: np.ndarray) -> None:
    q, scale, zp = _asymmetric(conv)
    check = check_weight("w", q, scale, zp, 1, conv, BOUND)
    assert check.ok and check.steps <= 0.5 + 1e-6, check
    np.testing.assert_allclose(dequantize(q, scale, zp), conv, atol=float(scale) / 2 + 1e-7)


def _faults(conv: np.ndarray):  # type: ignore[no-untyped-def]
    q, scale, zp = _symmetric(conv, 0)
    yield "scale x10", (q, scale * 10, zp, 0, conv)
    one = scale.copy()
    one[5] *= 2
    yield "one channel's scale x2", (q, one, zp, 0, conv)
    yield "scales on the wrong axis", (q, scale[:16], zp[:16], 1, conv)
    q8, s8, _zp = _asymmetric(conv)
    yield "zero point dropped", (q8, s8, None, 1, conv)
    other = np.random.default_rng(1).normal(0, 0.05, conv.shape).astype(np.float32)
    yield "another layer's weight", (q, scale, zp, 0, other)


@pytest.mark.parametrize("fault", ["scale x10", "one channel's scale x2", "scales on the wrong axis",
                                   "zero point dropped", "another layer's weight"])  # fmt: skip
def test_each_quantizer_defect_is_many_steps_off(conv: np.ndarray, fault: str) -> None:
    args = dict(_faults(conv))[fault]
    check = check_weight("model.3.conv.weight", *args, max_steps=BOUND)
    assert not check.ok and check.steps > 10 * BOUND, (fault, check)
    assert check.problem.startswith("model.3.conv.weight is ") and "(bound 1)" in check.problem


def test_a_shape_mismatch_is_a_failure_not_a_crash(conv: np.ndarray) -> None:
    q, scale, zp = _symmetric(conv, 0)
    check = check_weight("w", q[:, :8], scale, zp, 0, conv, BOUND)
    assert not check.ok and "shape" in check.problem


def test_the_summary_names_the_worst_and_every_problem(conv: np.ndarray) -> None:
    q, scale, zp = _symmetric(conv, 0)
    good = check_weight("a", q, scale, zp, 0, conv, BOUND)
    bad = check_weight("b", q, scale * 10, zp, 0, conv, BOUND)
    summary = summarize_weights([good, bad], BOUND)
    assert summary["checked"] == 2 and summary["worst"] == "b" and len(summary["problems"]) == 1
    assert summarize_weights([], BOUND)["max_steps"] is None
