"""Apply passes one by one and verify the outputs after each against the original model."""

from __future__ import annotations

import copy
import time
from dataclasses import replace
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from edgekit import progress
from edgekit.errors import VerificationError
from edgekit.reparam.protocol import Pass, flatten_outputs
from edgekit.reparam.report import PassRecord, ReparamReport, time_forms
from edgekit.reparam.report import measure as measure_model
from edgekit.verify import FP32, TOLERANCE, float_noise, merge

SampleInputs = Union[torch.Tensor, Sequence[torch.Tensor]]


def _batches(sample_inputs: SampleInputs) -> List[torch.Tensor]:
    batches = [sample_inputs] if isinstance(sample_inputs, torch.Tensor) else list(sample_inputs)
    if not batches:
        raise ValueError("reparameterize needs at least one sample input")
    for x in batches:
        if x.dim() != 4 or not x.is_floating_point():
            raise ValueError(
                f"sample inputs must be float (B, C, H, W) tensors, got {x.dtype} {tuple(x.shape)}"
            )
        if not bool(x.abs().amax() > 0):
            raise ValueError("sample inputs are all zero: use real-looking images (edgekit.reparam.samples)")
    return [x.float() for x in batches]


def reparameterize(
    model: nn.Module,
    passes: Union[Sequence[Pass], Any],
    sample_inputs: SampleInputs,
    *,
    inplace: bool = False,
    tol: float = TOLERANCE,
    measure: bool = True,
    latency_runs: int = 3,
    latency_blocks: int = 3,
) -> Tuple[nn.Module, ReparamReport]:
    """Apply each applicable pass and verify it; returns the inference model and a report.

    Works on a deep copy unless ``inplace`` (the model is put in eval mode and FP32 either way).
    After every pass the model runs on ``sample_inputs`` and each output tensor is compared
    with the *original* model's output (mapped through the passes' ``reference_transform``) by
    ``edgekit.verify`` with the FP32 bounds, each output by its role (raw tensors within ``tol`` of
    ``max|b|``; decoded boxes in pixels, scores as probabilities, top-k rows as detections: see
    ``edgekit.verify.bounds``). A pass that drifts raises ``VerificationError`` naming it,
    so no drifted model is ever returned. ``passes`` is a sequence of passes or a ``Pipeline``.
    """
    pass_list: List[Pass] = list(getattr(passes, "passes", passes))
    batches = _batches(sample_inputs)
    work = model if inplace else copy.deepcopy(model)
    work = work.float().eval()
    single = batches[0][:1]
    report = ReparamReport(tolerance=tol, input_shape=list(single.shape))
    bounds = replace(FP32, raw_rtol=tol)
    with torch.no_grad():
        expected = [work(x) for x in batches]
        exact = _float64_outputs(work, batches)  # the model's own f32 rounding: see FLOAT_NOISE_FACTOR
        train = copy.deepcopy(work) if measure and latency_runs > 0 else None  # timed beside the result
        if measure:
            report.before = measure_model(work, single)
        for i, p in enumerate(pass_list, 1):
            progress.note(f"reparameterizing: {p.name} ({i}/{len(pass_list)})")
            if not p.applies(work):
                report.passes.append(PassRecord(p.name, applied=False))
                continue
            start = time.perf_counter()
            result = p.run(work)
            if result.model is not None:
                work = result.model
            work = work.float().eval()
            expected = [p.reference_transform(e) for e in expected]
            exact = _transformed(p, exact)
            errors = _verified(p, work, batches, expected, exact, bounds)
            record = PassRecord(p.name, True, result.changed, list(result.details), errors)
            record.seconds = time.perf_counter() - start
            if measure:
                record.after = measure_model(work, single)
            report.passes.append(record)
        if train is not None and report.before and report.after and report.after is not report.before:
            _time_both(report, train, work, single, latency_blocks, latency_runs)
    return work, report


def _verified(
    p: Pass, work: nn.Module, batches: List[torch.Tensor], expected: List[Any], exact: Any, bounds: Any
) -> Dict[str, float]:
    """Each output of ``work`` after pass ``p`` against the original's (``VerificationError``
    naming the pass on a drift); returns the max relative error per output."""
    noise = [_noise(e, e64) for e, e64 in zip(expected, exact)] if exact else [()] * len(batches)
    rows = merge([p.compare(work(x), e, bounds, n) for x, e, n in zip(batches, expected, noise)])
    bad = next((r for r in rows if not r.ok), None)
    if bad is not None:
        raise VerificationError(f"pass '{p.name}' changed {bad.name} ({bad.role}): {bad.problem}")
    return {r.name: r.max_rel for r in rows}


def _time_both(
    report: ReparamReport, train: nn.Module, work: nn.Module, single: torch.Tensor, blocks: int, runs: int
) -> None:
    """Train and inference forms timed in alternating warmed blocks, into the report."""
    report.before.latency_ms, report.after.latency_ms = time_forms([train, work], single, blocks, runs)
    report.latency_runs, report.latency_blocks = runs, blocks
    report.threads = torch.get_num_threads()


def _float64_outputs(model: nn.Module, batches: List[torch.Tensor]) -> Optional[List[Any]]:
    """``model``'s outputs computed in float64 (a copy), or None where it does not run so."""
    try:
        double = copy.deepcopy(model).double()
        return [double(x.double()) for x in batches]
    except (RuntimeError, TypeError, ValueError):  # an op or buffer that stays float32
        return None


def _transformed(p: Pass, exact: Optional[List[Any]]) -> Optional[List[Any]]:
    if exact is None:
        return None
    try:
        return [p.reference_transform(e) for e in exact]
    except (RuntimeError, TypeError, ValueError):
        return None


def _noise(f32: Any, f64: Any) -> List[float]:
    """Per flattened output: its ``float_noise`` term."""
    return [float_noise(a, b) for (_, a), (_, b) in zip(flatten_outputs(f32), flatten_outputs(f64))]
