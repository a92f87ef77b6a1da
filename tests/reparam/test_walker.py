"""The walker: verification after every pass, naming the drifting pass, copies, the report."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import torch
from torch import nn

from edgekit.errors import VerificationError
from edgekit.reparam import (
    ConvBnFoldPass,
    DeployFormPass,
    End2EndPass,
    OutputFormPass,
    Pass,
    PassResult,
    Pipeline,
    batchnorm_paths,
    reparameterize,
    sample_inputs,
)
from edgekit.reparam.passes import set_submodule
from edgekit.verify import TOLERANCE, max_rel_error

from .helpers import RepBlock, head_spec, tiny_detector

SIZE = 64


class DropOneBatchNorm(Pass):
    """Deliberately broken: replaces a BatchNorm by Identity without folding it."""

    name = "drop_bn"

    def run(self, model: nn.Module) -> PassResult:
        path = batchnorm_paths(model)[0]
        set_submodule(model, path, nn.Identity())
        return PassResult(changed=1, details=[path])


class NudgeWeights(Pass):
    """Scales every convolution weight by (1 + 1e-3): a small real change, far above rounding."""

    name = "nudge"

    def run(self, model: nn.Module) -> PassResult:
        with torch.no_grad():
            for conv in (m for m in model.modules() if isinstance(m, nn.Conv2d)):
                conv.weight.mul_(1.001)
        return PassResult(changed=1)


class FlattenOutputs(Pass):
    """Changes the output structure without saying how (no reference_transform)."""

    name = "flatten"

    def run(self, model: nn.Module) -> PassResult:
        class Flat(nn.Module):
            def __init__(self, inner: nn.Module) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x: torch.Tensor) -> Any:
                boxes, scores = self.inner(x)
                return boxes + scores[:1]

        return PassResult(changed=1, model=Flat(model))


def _state(model: nn.Module) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return sample_inputs(SIZE, batch=2, seed=3)


def test_reparameterize_fuses_verifies_and_leaves_the_input_alone(images: torch.Tensor) -> None:
    model = tiny_detector()
    before = _state(model)
    fused, report = reparameterize(model, [DeployFormPass(), ConvBnFoldPass()], images, measure=False)
    assert fused is not model
    assert not batchnorm_paths(fused) and not any(isinstance(m, RepBlock) for m in fused.modules())
    # the input model: same modules, same tensors
    assert sum(isinstance(m, RepBlock) for m in model.modules()) == 4
    after = _state(model)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert [p.name for p in report.passes] == ["deploy_form", "conv_bn"]
    assert report.record("deploy_form").changed == 4 and report.record("conv_bn").changed == 3
    assert all(0 < p.max_error <= TOLERANCE for p in report.passes)  # real, non-zero drift, within
    with torch.no_grad():
        got, want = fused(images), model(images)
    for a, b in zip(got[0] + got[1], want[0] + want[1]):
        assert max_rel_error(a, b) <= TOLERANCE


def test_inplace_changes_the_given_model(images: torch.Tensor) -> None:
    model = tiny_detector()
    fused, _ = reparameterize(model, [DeployFormPass()], images, inplace=True, measure=False)
    assert fused is model and not any(isinstance(m, RepBlock) for m in model.modules())


def test_a_drifting_pass_is_named_and_no_model_is_returned(images: torch.Tensor) -> None:
    passes = [DeployFormPass(), DropOneBatchNorm(), ConvBnFoldPass()]
    with pytest.raises(
        VerificationError,
        # the bound: 1e-4 of the range plus the model's own float32 rounding (here ~6e-6 of it)
        match=r"^pass 'drop_bn' changed output \d+ \(raw\): max\|d\|/max\|x\| = \S+ > 0\.0001\d*$",
    ):
        reparameterize(tiny_detector(), passes, images, measure=False)


def test_an_undeclared_structure_change_is_refused(images: torch.Tensor) -> None:
    with pytest.raises(VerificationError, match="pass 'flatten' changed the number of outputs from 6 to 4"):
        reparameterize(tiny_detector(), [FlattenOutputs()], images, measure=False)


def test_tolerance_is_applied(images: torch.Tensor) -> None:
    with pytest.raises(
        VerificationError, match=r"pass 'nudge' changed output 0 \(raw\): max\|d\|/max\|x\| = "
    ):
        reparameterize(tiny_detector(), [NudgeWeights()], images, tol=1e-4, measure=False)
    with pytest.raises(VerificationError) as tight:
        reparameterize(tiny_detector(), [NudgeWeights()], images, tol=1e-6, measure=False)
    allowed = float(str(tight.value).rsplit("> ", 1)[1])
    assert 1e-6 < allowed < 1e-4  # the tolerance given plus the model's rounding, not the default 1e-4
    # a tolerance below float32 rounding fails nothing that only rounds: the bound also allows
    # the model's own f32 rounding (FLOAT_NOISE_FACTOR x its f32 - f64 difference)
    reparameterize(tiny_detector(), [DeployFormPass()], images, tol=1e-12, measure=False)


def test_zero_or_malformed_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="all zero"):
        reparameterize(tiny_detector(), [DeployFormPass()], torch.zeros(1, 3, SIZE, SIZE))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        reparameterize(tiny_detector(), [DeployFormPass()], torch.ones(3, SIZE, SIZE))


def test_head_passes_are_verified_through_their_reference_transform(images: torch.Tensor) -> None:
    head = head_spec(max_det=20)
    passes = [DeployFormPass(), ConvBnFoldPass(), OutputFormPass(head, (SIZE, SIZE), "fused", "concat")]
    model, report = reparameterize(tiny_detector(), passes, list(images.split(1)), measure=False)
    assert model(images)[0].shape == (2, 84, 4 + 3)
    assert report.record("output_form").details == ["84 anchors, dfl=fused, output=concat -> detections"]
    e2e_passes = [DeployFormPass(), End2EndPass(head_spec(bins=1, max_det=20), (SIZE, SIZE))]
    e2e, report = reparameterize(tiny_detector(bins=1), e2e_passes, images)
    assert e2e(images).shape == (2, 20, 6)
    assert set(report.record("end2end").errors) == {"output 0"}  # the top-k rows, matched as detections


def test_report_figures_table_and_json(images: torch.Tensor) -> None:
    skipped = DeployFormPass()
    pipeline = Pipeline([DeployFormPass(), ConvBnFoldPass(), skipped], name="tiny")
    _, report = pipeline.run(tiny_detector(), images, latency_runs=2)
    before, after = report.before, report.after
    assert before is not None and after is not None
    assert after.params < before.params and after.buffers < before.buffers  # 1x1 branches, BN gone
    assert 0 < after.gflops < before.gflops and after.latency_ms > 0 and before.latency_ms > 0
    assert report.passes[-1].applied is False
    table = report.format_table()
    lines = table.splitlines()
    assert lines[0].split() == ["pass", "changed", "params", "GFLOPs", "max", "rel", "err"]
    assert lines[2].startswith("(train form)") and f"{before.params:,}" in lines[2]
    assert lines[3].startswith("deploy_form") and "4" in lines[3].split()
    assert "skipped" in lines[5]
    assert "  deploy_form: RepBlock x4" in lines
    speed = next(ln for ln in lines if ln.startswith("PyTorch CPU latency"))
    assert "alternating warmed blocks of 2" in speed
    assert f"train form {before.latency_ms:.1f} ms, inference form {after.latency_ms:.1f} ms" in speed
    data = json.loads(json.dumps(report.to_dict()))
    assert data["before"]["params"] == before.params and data["after"]["params"] == after.params
    assert [p["name"] for p in data["passes"]] == ["deploy_form", "conv_bn", "deploy_form"]
    assert data["passes"][2]["max_rel_error"] is None and data["input_shape"] == [1, 3, SIZE, SIZE]
    assert data["latency"]["runs"] == 2 and data["latency"]["blocks"] == 3
    assert "multiply-accumulates" in data["flops_convention"]
    assert data["before"]["latency_ms"] == before.latency_ms > 0


def test_fp16_models_are_verified_in_fp32(images: torch.Tensor) -> None:
    model = copy.deepcopy(tiny_detector()).half()
    fused, report = reparameterize(model, [DeployFormPass(), ConvBnFoldPass()], images, measure=False)
    assert next(fused.parameters()).dtype == torch.float32
    assert report.record("conv_bn").max_error <= TOLERANCE
