"""Full-size T/S/M/L and Nano Ns/Nm/Nl built by edgekit against the module tree of the official code.

``official_structure.json.gz`` was produced by the official code (provenance.json): each
official config built with ``build_local_model``, its ordered state-dict keys and shapes, and
``sum(p.numel() for p in model.parameters())``. Parameter counts (train-time form, RepConv
unfused; ``deploy_params`` after the official ``RepConv.switch_to_deploy``):

    variant      params      deploy_params   published
    damoyolo-t    8,875,727    8,479,631       8.5 M
    damoyolo-s   16,935,647   16,251,631      16.3 M
    damoyolo-m   29,241,727   28,178,175      28.2 M
    damoyolo-l   43,861,759   42,058,111      42.1 M
    damoyolo-ns   1,405,691    1,405,691       1.41 M (no RepConv)
    damoyolo-nm   2,707,219    2,707,219       2.71 M
    damoyolo-nl   5,688,579    5,688,579       5.69 M
"""

from __future__ import annotations

import gzip
import json
from typing import Any, Dict

import pytest
import torch

from edgekit.models.damoyolo import ARCHS, DamoYolo, build_model

from .test_golden import GOLDEN, fixture_file

OFFICIAL_PARAMS = {  # official code, sum(p.numel()) of the train-time model (see module docstring)
    "damoyolo-t": 8_875_727,
    "damoyolo-s": 16_935_647,
    "damoyolo-m": 29_241_727,
    "damoyolo-l": 43_861_759,
    "damoyolo-ns": 1_405_691,
    "damoyolo-nm": 2_707_219,
    "damoyolo-nl": 5_688_579,
}


def official() -> Dict[str, Any]:
    path = fixture_file("official_structure", "official_structure.json.gz")
    assert path.parent == GOLDEN
    with gzip.open(path, "rt") as fh:
        return json.load(fh)


@pytest.mark.parametrize("variant", sorted(ARCHS))
def test_state_dict_keys_order_and_shapes_are_official(variant: str) -> None:
    with torch.device("meta"):
        model = DamoYolo(ARCHS[variant], nc=80)
    ours = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    ref = official()[variant]
    assert ours == ref["state_dict"]
    params = sum(p.numel() for p in model.parameters())
    assert params == ref["params"] == OFFICIAL_PARAMS[variant]
    assert sum(b.numel() for b in model.buffers()) == ref["buffers"]


def test_build_sets_official_bn_settings_and_runs() -> None:
    model = build_model(ARCHS["damoyolo-t"], nc=80).eval()
    eps = {m.eps for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert eps == set(official()["damoyolo-t"]["bn_eps"]) == {1e-3}
    with torch.no_grad():
        box, cls = model(torch.rand(1, 3, 64, 96) * 255)
    assert [tuple(t.shape) for t in box] == [(1, 68, 8, 12), (1, 68, 4, 6), (1, 68, 2, 3)]
    assert [tuple(t.shape) for t in cls] == [(1, 80, 8, 12), (1, 80, 4, 6), (1, 80, 2, 3)]
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_PARAMS["damoyolo-t"]


def test_nano_head_is_1x1_with_8_bins() -> None:
    model = build_model(ARCHS["damoyolo-ns"], nc=80).eval()
    assert model.head.gfl_reg[0].kernel_size == (1, 1) and model.head.gfl_reg[0].out_channels == 4 * 8
    assert ARCHS["damoyolo-ns"].imgsz == 416
    with torch.no_grad():
        box, cls = model(torch.rand(1, 3, 64, 64) * 255)
    assert [tuple(t.shape) for t in box] == [(1, 32, 8, 8), (1, 32, 4, 4), (1, 32, 2, 2)]
    assert [t.shape[1] for t in cls] == [80, 80, 80]


def test_neck_depth_uses_python_rounding() -> None:
    # M: depth 1.5 -> round(4.5) == 4 blocks; L: depth 2.0 -> 6 (official GiraffeNeckV2)
    assert ARCHS["damoyolo-m"].neck_blocks == 4
    assert ARCHS["damoyolo-l"].neck_blocks == 6
    assert ARCHS["damoyolo-t"].neck_blocks == ARCHS["damoyolo-s"].neck_blocks == 3
