"""Family dispatch of ``load_checkpoint`` / ``build_model``, with tiny families registered here."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import edgekit
from edgekit.errors import InputFileError, UnsafeCheckpointError, UnsupportedModelError
from edgekit.models.base import FAMILIES
from edgekit.models.loader import build_model, choose_family, family_for_arch, load_checkpoint

from .conftest import make_model, save_foreign

torch = pytest.importorskip("torch")


@pytest.fixture
def tiny_ckpt(tmp_path: Path) -> Path:
    return save_foreign(tmp_path / "tiny.pt", {"model": None, "ema": make_model(11).half(), "epoch": -1})


def test_dispatch_by_score(tiny_families: None, tiny_ckpt: Path) -> None:
    loaded = load_checkpoint(tiny_ckpt)
    assert loaded.info.family == "tinytest" and loaded.info.variant == "tiny-a"
    assert loaded.info.source == "tiny.pt"
    assert loaded.info.source_sha256 == hashlib.sha256(tiny_ckpt.read_bytes()).hexdigest()
    assert loaded.info.names == ["class0", "class1", "class2"]
    ref = make_model(11).half().float()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), ref(x))


def test_top_level_api_is_the_loader(tiny_families: None, tiny_ckpt: Path) -> None:
    assert edgekit.load_checkpoint is load_checkpoint
    assert edgekit.load_checkpoint(tiny_ckpt).info.family == "tinytest"


def test_arch_selects_family_and_variant(tiny_families: None, tiny_ckpt: Path) -> None:
    assert family_for_arch("TINY-B") == "tinytest"
    assert family_for_arch("tinyother-something") == "tinyother"
    assert family_for_arch("no-such-arch") is None
    assert load_checkpoint(tiny_ckpt, arch="tiny-b").info.variant == "tiny-b"


def test_arch_of_wrong_family(tiny_families: None, tiny_ckpt: Path) -> None:
    with pytest.raises(UnsupportedModelError, match="other-x is a tinyother variant") as err:
        load_checkpoint(tiny_ckpt, arch="other-x")
    assert str(tiny_ckpt) in str(err.value)


def test_explicit_family(tiny_families: None, tiny_ckpt: Path) -> None:
    from edgekit.loading.checkpoint import read_checkpoint

    assert choose_family(read_checkpoint(tiny_ckpt), family="tinytest").name == "tinytest"
    with pytest.raises(UnsupportedModelError, match="unknown model family 'nope'"):
        load_checkpoint(tiny_ckpt, family="nope")


def test_unsupported_checkpoint(tiny_families: None, tmp_path: Path) -> None:
    path = tmp_path / "plain.pt"
    torch.save({"epoch": 1, "weights": {"fc.weight": torch.zeros(2, 2)}}, path)
    with pytest.raises(UnsupportedModelError, match="not a checkpoint of a supported family") as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert str(path) in msg and "keys seen: epoch, weights" in msg and "\n" not in msg


def test_bad_files_fail_before_dispatch(tiny_families: None, tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        load_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x02cposix\nsystem\n(X\x04\x00\x00\x00truetR.")
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(bad)


def test_build_model(tiny_families: None) -> None:
    built = build_model("tiny-b", nc=5)
    assert built.info.nc == 5 and built.info.variant == "tiny-b"
    with pytest.raises(UnsupportedModelError, match="unknown architecture 'nope'"):
        build_model("nope")


def test_registry_is_clean_after_fixture() -> None:
    assert "tinytest" not in FAMILIES and "tinyother" not in FAMILIES
