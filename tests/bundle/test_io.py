from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edgekit.bundle import BundleWriter, Manifest, read_bundle
from edgekit.errors import InputFileError, ManifestError

from .conftest import MODEL_BYTES, manifest_dict


def test_read_valid_bundle(bundle_dir: Path) -> None:
    b = read_bundle(bundle_dir, verify_hashes=True)
    assert b.model_path() == bundle_dir / "model.onnx"
    assert b.manifest.model.variant == "yolo11n"
    assert read_bundle(bundle_dir / "manifest.json").root == bundle_dir


def test_writer_leaves_nothing_on_failure(tmp_path: Path) -> None:
    dest = tmp_path / "x.edgekit"
    with pytest.raises(RuntimeError, match="export failed"), BundleWriter(dest) as w:
        (w.dir / "model.onnx").write_bytes(b"partial")
        raise RuntimeError("export failed")
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []  # no temp folder left behind either


def test_writer_refuses_manifest_that_does_not_match_files(tmp_path: Path) -> None:
    dest = tmp_path / "x.edgekit"
    with pytest.raises(ManifestError, match="sha256"), BundleWriter(dest) as w:
        (w.dir / "model.onnx").write_bytes(MODEL_BYTES[:-1] + b"!")  # same size, other bytes
        w.commit(Manifest.from_dict(manifest_dict()))
    assert not dest.exists()


def test_overwrite_replaces_atomically_and_keeps_old_on_failure(bundle_dir: Path) -> None:
    before = (bundle_dir / "manifest.json").read_text()
    with pytest.raises(ValueError), BundleWriter(bundle_dir) as w:
        (w.dir / "model.onnx").write_bytes(b"new")
        raise ValueError("boom")
    assert (bundle_dir / "manifest.json").read_text() == before
    data = b"second version of the model"
    with BundleWriter(bundle_dir) as w:
        (w.dir / "model.onnx").write_bytes(data)
        w.commit(Manifest.from_dict(manifest_dict(data=data)))
    assert read_bundle(bundle_dir, verify_hashes=True).model_path().read_bytes() == data
    assert sorted(p.name for p in bundle_dir.parent.iterdir()) == [bundle_dir.name]


def test_writer_will_not_replace_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"x")
    with pytest.raises(InputFileError, match="not an edgekit bundle"):
        BundleWriter(tmp_path / "photos")
    assert (tmp_path / "photos" / "cat.jpg").exists()


def _write_manifest(bundle: Path, text: str) -> None:
    (bundle / "manifest.json").write_text(text)


def test_corrupt_manifest(bundle_dir: Path) -> None:
    _write_manifest(bundle_dir, '{"schema_version": 2, "source": ')
    with pytest.raises(ManifestError, match="not valid JSON") as exc:
        read_bundle(bundle_dir)
    assert str(bundle_dir / "manifest.json") in str(exc.value)
    assert "\n" not in str(exc.value)


def test_schema_violation_is_one_line_naming_file_and_field(bundle_dir: Path) -> None:
    d = manifest_dict()
    d["input"]["dtype"] = "float64"
    _write_manifest(bundle_dir, json.dumps(d))
    with pytest.raises(ManifestError, match=r"manifest\.json: 'input\.dtype' must be one of") as exc:
        read_bundle(bundle_dir)
    assert "\n" not in str(exc.value)


def test_missing_model_file(bundle_dir: Path) -> None:
    (bundle_dir / "model.onnx").unlink()
    with pytest.raises(ManifestError, match=r"onnxruntime model file 'model\.onnx' is missing"):
        read_bundle(bundle_dir)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_escaping_the_bundle_is_refused(bundle_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.onnx"
    outside.write_bytes(MODEL_BYTES)
    (bundle_dir / "model.onnx").unlink()
    (bundle_dir / "model.onnx").symlink_to(outside)
    with pytest.raises(ManifestError, match="leaves the bundle"):
        read_bundle(bundle_dir)


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="not an edgekit bundle"):
        read_bundle(tmp_path)
    with pytest.raises(InputFileError, match="no such bundle"):
        read_bundle(tmp_path / "nope")
    (tmp_path / "file.onnx").write_bytes(b"x")
    with pytest.raises(InputFileError, match="not a bundle directory"):
        read_bundle(tmp_path / "file.onnx")


def test_a_bundle_folder_gets_the_users_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with BundleWriter(tmp_path / "x.edgekit") as w:
            (w.dir / "model.onnx").write_bytes(MODEL_BYTES)
            w.commit(Manifest.from_dict(manifest_dict()))
    finally:
        os.umask(old)
    assert (tmp_path / "x.edgekit").stat().st_mode & 0o777 == 0o755  # not mkdtemp's 0700
