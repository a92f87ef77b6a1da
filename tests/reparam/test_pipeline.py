"""Pipelines and options: which passes a family/target combination gets."""

from __future__ import annotations

import pytest

from edgekit.contract.model import ModelInfo
from edgekit.reparam import (
    PASSES,
    PIPELINES,
    DropModulesPass,
    End2EndPass,
    OutputFormPass,
    ReparamOptions,
    head_passes,
    standard_pipeline,
)

from .helpers import head_spec


def _info(bins: int = 16, end2end: bool = False) -> ModelInfo:
    return ModelInfo("test", "tiny", ["a", "b", "c"], head_spec(bins=bins, end2end=end2end), imgsz=(64, 96))


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown output form 'boxes'"):
        ReparamOptions(output="boxes")
    with pytest.raises(ValueError, match="unknown DFL mode 'soft'"):
        ReparamOptions(dfl="soft")


def test_head_passes_follow_the_options() -> None:
    assert head_passes(_info(), ReparamOptions(output="raw")) == []
    (split,) = head_passes(_info(), ReparamOptions())
    assert isinstance(split, OutputFormPass) and split.dfl == "fused" and split.imgsz == (64, 96)
    (host,) = head_passes(_info(), ReparamOptions(output="concat", dfl="host", imgsz=(32, 32)))
    assert (host.dfl, host.output, host.imgsz) == ("host", "concat", (32, 32))
    (e2e,) = head_passes(_info(bins=1, end2end=True), ReparamOptions(output="end2end"))
    assert isinstance(e2e, End2EndPass) and e2e.dfl == "none"
    with pytest.raises(ValueError, match="needs an NMS-free model"):
        head_passes(_info(), ReparamOptions(output="end2end"))
    with pytest.raises(ValueError, match="bins=1: use 'none'"):
        head_passes(_info(bins=1), ReparamOptions(dfl="host"))


def test_standard_pipeline_order_and_description() -> None:
    drop = DropModulesPass(lambda m: [], name="drop_one2many")
    pipeline = standard_pipeline(_info(), ReparamOptions(), structural=[drop])
    assert pipeline.names() == ["drop_one2many", "deploy_form", "conv_bn", "output_form"]
    assert pipeline.name == "test"
    lines = pipeline.describe()
    assert lines[1].startswith("deploy_form: Replace every module that implements deploy_form()")
    assert all(": " in line for line in lines)


def test_registries_hold_the_generic_passes() -> None:
    assert {"deploy_form", "conv_bn", "drop_modules", "output_form", "end2end"} <= set(PASSES.names())
    assert PASSES.get("conv_bn")().name == "conv_bn"
    with pytest.raises(KeyError, match="did you mean conv_bn") as unknown:
        PASSES.get("conv_bnn")
    from edgekit.errors import EdgekitError

    assert isinstance(unknown.value, EdgekitError)  # the CLI prints it as one line, no traceback
    assert str(unknown.value).startswith("unknown ") and "'conv_bnn'" in str(
        unknown.value
    )  # not KeyError's quotes
    assert "test" not in PIPELINES
