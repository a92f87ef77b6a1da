"""Golden tests: edgekit reproduces the official YOLOv9 code on tiny checkpoints.

``tiny_*.pt`` were written by ``write_official_checkpoint``; the official code (see
``provenance.json``) loaded them and produced the ``.npz`` references.
``official_written_tiny_gelan.pt`` was saved by the official code itself.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Tuple

import numpy as np
import pytest
import torch

from edgekit.contract.decode import RawHeadOutput, decode
from edgekit.contract.model import LoadedModel
from edgekit.loading.checkpoint import iter_records, read_checkpoint
from edgekit.models.yolov9 import FAMILY
from edgekit.verify import TOLERANCE, assert_equivalent, max_rel_error

from ..golden import fixture_entry, official_repo, read_provenance

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "yolov9"
REQUIRED = ("repo", "commit", "torch_version", "date", "what_was_run", "sha256", "fixtures")
FIXTURES = ("tiny_v9t", "tiny_v9c", "tiny_gelan", "official_written_tiny_gelan")


def provenance(name: str, folder: Path = GOLDEN) -> Dict[str, Any]:
    """The provenance entry of a fixture; fails (never skips) when missing or incomplete."""
    path = folder / "provenance.json"
    prov = read_provenance(
        path, REQUIRED, official_repo("WongKinYiu/yolov9"), "WongKinYiu/yolov9 at a commit"
    )
    fixture_entry(prov, path, name)
    return prov


def fixture_file(name: str, kind: str) -> Path:
    prov = provenance(name)
    filename = prov["fixtures"][name][kind]
    path = GOLDEN / filename
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == prov["sha256"][filename], f"{filename} differs from the file the provenance describes"
    return path


def load_fixture(name: str) -> Tuple[LoadedModel, Dict[str, np.ndarray]]:
    ckpt = read_checkpoint(fixture_file(name, "checkpoint"))
    assert FAMILY.score(ckpt) == 1.0
    loaded = FAMILY.load(ckpt)
    return loaded, dict(np.load(fixture_file(name, "reference")))


@lru_cache(maxsize=None)
def outputs(name: str) -> Tuple[LoadedModel, Dict[str, np.ndarray], Dict[str, RawHeadOutput], RawHeadOutput]:
    """Load a fixture once and run it: (loaded, reference, forward_all(x), forward(x))."""
    loaded, ref = load_fixture(name)
    x = torch.from_numpy(ref["input"]).float()
    with torch.no_grad():
        return loaded, ref, loaded.model.forward_all(x), loaded.model(x)


def official_decoded(raw, loaded: LoadedModel) -> torch.Tensor:
    """edgekit's decode in the official output form: [B, 4 + nc, N], xywh pixels + scores."""
    boxes, scores = decode(raw, loaded.info.head)
    xywh = torch.cat(((boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]), -1)
    return torch.cat((xywh, scores), -1).transpose(1, 2)


@pytest.mark.parametrize("name", FIXTURES)
def test_raw_and_decoded_outputs_match_official(name: str) -> None:
    loaded, ref, branches, main = outputs(name)
    expected = {"main", "aux"} if loaded.info.structures.pgi_branch else {"main"}
    assert set(branches) == expected
    assert {k.split("_")[0] for k in ref if k.endswith("_decoded") and "fused" not in k} == expected
    for branch, raw in branches.items():
        for level in range(3):
            assert_equivalent(
                raw[0][level], ref[f"{branch}_box_{level}"], f"{name} {branch} box P{level + 3}"
            )
            assert_equivalent(
                raw[1][level], ref[f"{branch}_cls_{level}"], f"{name} {branch} cls P{level + 3}"
            )
        assert_equivalent(official_decoded(raw, loaded), ref[f"{branch}_decoded"], f"{name} {branch} decoded")
    # the plain forward (aux-only layers skipped) is the main branch
    for got, want in zip(main[0] + main[1], branches["main"][0] + branches["main"][1]):
        assert torch.equal(got, want)
    # the official fuse() of the same model: the reference the reparameterization must meet
    assert_equivalent(official_decoded(main, loaded), ref["main_fused_decoded"], f"{name} vs official fused")
    assert np.array_equal(np.asarray(loaded.info.head.strides, dtype=np.float32), ref["stride"])


def test_reference_is_not_trivial() -> None:
    """Spread logits: a mistake in the DFL, anchors or class slicing cannot hide in flat outputs."""
    _, ref, _, _ = outputs("tiny_v9c")
    assert ref["main_box_0"].std() > 1.0 and ref["main_cls_0"].std() > 0.5
    assert not np.allclose(ref["main_decoded"], ref["aux_decoded"], atol=1e-2)
    scores = ref["main_decoded"][:, 4:]
    assert scores.min() < 0.1 and scores.max() > 0.9


def test_eps_matters() -> None:
    """BN eps 1e-5 (torch's default) instead of the pickled 1e-3 breaks the tolerance."""
    loaded, ref = load_fixture("tiny_v9t")
    for m in loaded.model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eps = 1e-5
    with torch.no_grad():
        raw = loaded.model(torch.from_numpy(ref["input"]))
    errors = [max_rel_error(raw[0][i], ref[f"main_box_{i}"]) for i in range(3)]
    assert max(errors) > TOLERANCE


def test_writer_pickles_like_the_official_code() -> None:
    """edgekit's writer and the official torch.save give the same records (classes, attributes, weights)."""
    ours = read_checkpoint(fixture_file("tiny_gelan", "checkpoint"))
    theirs = read_checkpoint(fixture_file("official_written_tiny_gelan", "checkpoint"))
    assert set(ours.keys()) == set(theirs.keys())
    mine, official = dict(iter_records(ours.pick_model())), dict(iter_records(theirs.pick_model()))
    # the official modules share one activation instance (a class attribute): fewer distinct records
    assert set(official) <= set(mine)
    assert {n.rsplit(".", 1)[-1] for n in set(mine) - set(official)} == {"act"}
    for name, rec in official.items():
        assert mine[name].cls == rec.cls, name
        eval_only = {"shape", "anchors", "strides"}  # set by an eval forward before the official save
        assert set(mine[name]._dict_state) - eval_only == set(rec._dict_state) - eval_only, name
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_golden_without_provenance_fails(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="without provenance"):
        provenance("tiny_v9t", folder=tmp_path)
    (tmp_path / "provenance.json").write_text(json.dumps({"repo": "WongKinYiu/yolov9"}))
    with pytest.raises(pytest.fail.Exception, match="lacks"):
        provenance("tiny_v9t", folder=tmp_path)
