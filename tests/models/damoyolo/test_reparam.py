"""DAMO-YOLO through edgekit's reparameterization: fused models still match the official outputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgekit.models.damoyolo import ARCHS, build_model
from edgekit.models.damoyolo.head import Scale
from edgekit.models.damoyolo.ops import RepConv
from edgekit.reparam import ReparamOptions, reparameterize
from edgekit.reparam.passes import DeployFormPass, batchnorm_paths
from edgekit.reparam.pipeline import PIPELINES
from edgekit.verify import assert_equivalent

from .helpers import TINY
from .test_golden import load_fixture
from .test_structure import official


@pytest.mark.parametrize("name", sorted(TINY))
def test_fused_model_matches_official_reference(name: str) -> None:
    loaded, ref, nc = load_fixture(name)
    x = torch.from_numpy(ref["input"][:1]).float()  # the first image keeps the test fast
    pipeline = PIPELINES.get("damoyolo")(loaded.info, ReparamOptions(output="raw", imgsz=(96, 128)))
    fused, _ = reparameterize(loaded.model, pipeline, x, measure=False)
    assert batchnorm_paths(fused) == []
    assert not any(isinstance(m, (RepConv, Scale)) for m in fused.modules())
    with torch.no_grad():
        box, cls = fused(x)
    for i in range(3):
        assert_equivalent(box[i], ref[f"box_{i}"][:1], f"{name} fused box level {i}")
        assert_equivalent(cls[i], ref[f"cls_{i}"][:1, :nc], f"{name} fused cls level {i}")


def test_deploy_form_parameter_count_matches_official_switch_to_deploy() -> None:
    # official RepConv.switch_to_deploy keeps BN elsewhere; edgekit's deploy forms also fold the
    # three Scale parameters into gfl_reg, hence the "- 3"
    model = build_model(ARCHS["damoyolo-t"], nc=80).eval()
    DeployFormPass().run(model)
    params = sum(p.numel() for p in model.parameters())
    assert params == official()["damoyolo-t"]["deploy_params"] - 3
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
