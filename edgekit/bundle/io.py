"""Reading and atomically writing bundle directories."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Optional, Sequence, Type, Union

from edgekit.bundle._fields import FieldError
from edgekit.bundle.manifest import Artifact, ArtifactFile, Manifest
from edgekit.errors import InputFileError, ManifestError

MANIFEST_NAME = "manifest.json"
PathLike = Union[str, "os.PathLike[str]"]


def sha256_file(path: PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


class Bundle:
    """A validated bundle on disk: ``bundle.manifest`` and ``bundle.model_path(backend)``."""

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root = root
        self.manifest = manifest

    def model_path(self, backend: Optional[str] = None) -> Path:
        return self.root / self.manifest.artifact(backend).path

    def __repr__(self) -> str:
        backends = [a.backend for a in self.manifest.artifacts]
        return f"Bundle({str(self.root)!r}, {self.manifest.model.variant}, {backends})"


def read_bundle(path: PathLike, verify_hashes: bool = False) -> Bundle:
    """Open a bundle directory (or its ``manifest.json``) and validate it.

    Raises ``ManifestError`` (one line, naming the file and the field) when the manifest is
    missing, not JSON, schema-violating, points outside the bundle, or a model file is absent.
    """
    root = Path(path)
    if root.name == MANIFEST_NAME and root.is_file():
        root = root.parent
    if not root.exists():
        raise InputFileError(root, "no such bundle directory")
    if not root.is_dir():
        raise InputFileError(root, "not a bundle directory (expected a folder with manifest.json)")
    manifest_file = root / MANIFEST_NAME
    if not manifest_file.is_file():
        raise ManifestError(manifest_file, "missing: this folder is not an edgekit bundle")
    try:
        data = json.loads(manifest_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ManifestError(manifest_file, f"not valid JSON ({exc})") from None
    try:
        manifest = Manifest.from_dict(data)
    except FieldError as exc:
        raise ManifestError(manifest_file, str(exc)) from None
    real_root = root.resolve()
    for art in manifest.artifacts:
        for entry in (art, *art.files):  # the main file, then the further ones (OpenVINO weights)
            _check_file(root, real_root, manifest_file, art.backend, entry)
    if verify_hashes:
        from edgekit.bundle.integrity import check_files

        check_files(root, manifest.artifacts)
    return Bundle(root, manifest)


def _check_file(
    root: Path,
    real_root: Path,
    manifest_file: Path,
    backend: str,
    entry: Union[Artifact, ArtifactFile],
) -> None:
    target = (root / entry.path).resolve()
    if real_root != target and real_root not in target.parents:
        raise ManifestError(manifest_file, f"artifact path {entry.path!r} leaves the bundle")
    if not target.is_file():
        raise ManifestError(manifest_file, f"the {backend} model file {entry.path!r} is missing")
    if target.stat().st_size != entry.size:
        raise ManifestError(
            manifest_file, f"{entry.path!r} has {target.stat().st_size} bytes, manifest says {entry.size}"
        )


def user_umask() -> int:
    """The process's umask (read without changing it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


class BundleWriter:
    """Write a bundle into a temporary sibling folder and rename it into place on success.

    >>> with BundleWriter("out/yolo11n-cpu.edgekit") as w:
    ...     export_onnx(model, w.dir / "model.onnx")
    ...     w.commit(manifest)

    Nothing half-written is ever left at the destination: on an exception (or without
    ``commit``) the temporary folder is removed and an existing bundle stays untouched.
    """

    def __init__(self, dest: PathLike, overwrite: bool = True) -> None:
        self.dest = Path(dest)
        if self.dest.exists() and not overwrite:
            raise InputFileError(self.dest, "already exists (use --overwrite)")
        if self.dest.exists() and not (self.dest / MANIFEST_NAME).is_file():
            raise InputFileError(self.dest, "exists and is not an edgekit bundle; refusing to replace it")
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=f".{self.dest.name}.", suffix=".tmp", dir=self.dest.parent))
        self._committed = False

    def artifact(self, rel: str, backend: str, precision: str, extra: Sequence[str] = ()) -> Artifact:
        """Describe a model file already written at ``self.dir / rel`` (plus its ``extra`` files)."""
        path = self.dir / rel
        files = tuple(
            ArtifactFile(name, sha256_file(self.dir / name), (self.dir / name).stat().st_size)
            for name in extra
        )
        return Artifact(backend, rel, precision, sha256_file(path), path.stat().st_size, files)

    def commit(self, manifest: Manifest) -> Path:
        """Validate ``manifest`` against the written files, then move the bundle into place."""
        text = json.dumps(manifest.to_dict(), indent=2, sort_keys=False) + "\n"
        (self.dir / MANIFEST_NAME).write_text(text, encoding="utf-8")
        read_bundle(self.dir, verify_hashes=True)  # never publish a bundle we cannot read back
        os.chmod(self.dir, 0o777 & ~user_umask())  # mkdtemp made it 0700; a bundle is as the user's folders
        backup = None
        if self.dest.exists():
            backup = self.dest.with_name(f".{self.dest.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            os.replace(self.dest, backup)
        os.replace(self.dir, self.dest)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
        self._committed = True
        return self.dest

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if not self._committed:
            shutil.rmtree(self.dir, ignore_errors=True)
