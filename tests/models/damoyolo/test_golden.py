"""Golden tests: edgekit reproduces the official DAMO-YOLO code on checkpoints it wrote.

The .pth files were written by ``write_official_checkpoint``; the official code (see
``provenance.json``) loaded them with ``strict=True`` and produced the .npz references.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest
import torch

from edgekit.contract.decode import decode
from edgekit.loading.checkpoint import read_checkpoint
from edgekit.models.damoyolo import FAMILY, build_model, write_official_checkpoint
from edgekit.verify import TOLERANCE, assert_equivalent, max_rel_error

from ..golden import fixture_entry, official_repo, read_provenance
from .helpers import TINY

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "damoyolo"
REQUIRED = ("repo", "commit", "torch_version", "date", "what_was_run", "sha256")


def provenance(name: str) -> Dict[str, Any]:
    """The provenance record of a fixture; fails (never skips) when it is missing or incomplete."""
    path = GOLDEN / "provenance.json"
    prov = read_provenance(
        path, REQUIRED, official_repo("tinyvision/DAMO-YOLO"), "tinyvision/DAMO-YOLO at a commit"
    )
    fixture_entry(prov, path, name)
    return prov


def fixture_file(name: str, filename: str) -> Path:
    prov = provenance(name)
    path = GOLDEN / filename
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == prov["sha256"][filename], f"{filename} differs from the file the provenance describes"
    return path


def load_fixture(name: str, bn_eps: float = 1e-3):
    arch, nc = TINY[name]
    ckpt = read_checkpoint(fixture_file(name, f"{name}.pth"))
    loaded = FAMILY.load(ckpt, arch)
    ref = dict(np.load(fixture_file(name, f"{name}.npz")))
    if bn_eps != 1e-3:
        model = build_model(loaded.model.arch, nc, bn_eps=bn_eps)
        model.load_state_dict(loaded.model.state_dict())
        loaded.model = model.eval()
    return loaded, ref, nc


def run(model: torch.nn.Module, ref: Dict[str, np.ndarray]):
    with torch.no_grad():
        return model(torch.from_numpy(ref["input"]).float())


@pytest.mark.parametrize("name", sorted(TINY))
def test_raw_and_decoded_outputs_match_official(name: str) -> None:
    loaded, ref, nc = load_fixture(name)
    raw = run(loaded.model, ref)
    errors = {}
    for i in range(3):
        errors[f"box_{i}"] = assert_equivalent(raw[0][i], ref[f"box_{i}"], f"{name} box level {i}")
        # the official gfl_cls output keeps a legacy head's extra channel; edgekit slices it off
        errors[f"cls_{i}"] = assert_equivalent(raw[1][i], ref[f"cls_{i}"][:, :nc], f"{name} cls level {i}")
    boxes, scores = decode(raw, loaded.info.head)
    errors["boxes"] = assert_equivalent(boxes, ref["boxes"], f"{name} decoded boxes")
    errors["scores"] = assert_equivalent(scores, ref["scores"], f"{name} decoded scores")
    assert max(errors.values()) <= TOLERANCE
    assert scores.shape[-1] == nc == loaded.info.nc


@pytest.mark.parametrize("name", sorted(TINY))
def test_torch_default_bn_eps_breaks_equivalence(name: str) -> None:
    """The eps (1e-3) is not in the state dict: rebuilding with torch's 1e-5 must be caught."""
    loaded, ref, _ = load_fixture(name, bn_eps=1e-5)
    raw = run(loaded.model, ref)
    worst = max(max_rel_error(raw[0][i], ref[f"box_{i}"]) for i in range(3))
    assert worst > 10 * TOLERANCE


def test_legacy_head_fixture_has_spare_channel() -> None:
    loaded, ref, nc = load_fixture("tiny_csp")
    assert ref["cls_0"].shape[1] == nc + 1
    assert loaded.info.extra["legacy_head"] is True
    assert loaded.model.head.gfl_cls[0].out_channels == nc + 1


def test_writer_reproduces_the_file_the_official_code_loaded(tmp_path: Path) -> None:
    loaded, _, _ = load_fixture("tiny_res")
    out = write_official_checkpoint(loaded.model, tmp_path / "again.pth", epoch=3)
    ours = torch.load(out, map_location="cpu", weights_only=True)
    official = torch.load(fixture_file("tiny_res", "tiny_res.pth"), map_location="cpu", weights_only=True)
    assert list(ours) == ["epoch", "model", "optimizer", "feature_loss"]
    assert ours["epoch"] == 3 and ours["optimizer"] is None and ours["feature_loss"] is None
    assert list(ours["model"]) == list(official["model"])
    for key, value in official["model"].items():
        assert torch.equal(ours["model"][key], value), key


def test_golden_without_provenance_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "GOLDEN", tmp_path)
    with pytest.raises(pytest.fail.Exception, match="without provenance"):
        provenance("tiny_res")
    (tmp_path / "provenance.json").write_text(json.dumps({"repo": "tinyvision/DAMO-YOLO"}))
    with pytest.raises(pytest.fail.Exception, match="lacks"):
        provenance("tiny_res")
