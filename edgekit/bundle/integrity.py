"""Model files against the sha256 their manifest records: every file (``edgekit show``), or the one
model a ``Detector`` opens, remembered by size and modification time so a board does not re-hash
a large model at every start.

The cache is a JSON file under ``$XDG_CACHE_HOME/edgekit`` (``~/.cache/edgekit``), keyed by the
file's absolute path; an entry holds (size, mtime_ns, sha256) and is used only while all three
still agree with the file and the manifest. A read-only home simply means no cache. This detects
corruption and accidental edits, not tampering (a forger can rewrite the manifest too).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Tuple, Union

from edgekit.bundle.manifest import Artifact, ArtifactFile
from edgekit.errors import ManifestError

CACHE_NAME = "verified-files.json"
_Entry = Union[Artifact, ArtifactFile]


def cache_path() -> Path:
    """Where verified hashes are remembered (``EDGEKIT_CACHE_DIR`` overrides the folder)."""
    folder = os.environ.get("EDGEKIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "edgekit"
    )
    return Path(folder) / CACHE_NAME


def _sha256(path: Path) -> str:
    from edgekit.bundle.io import sha256_file

    return sha256_file(path)


def _load_cache(path: Path) -> Dict[str, List[object]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_cache(path: Path, cache: Dict[str, List[object]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".verified-", suffix=".tmp", dir=str(path.parent))
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(cache, f)
        os.replace(tmp, path)
    except OSError:
        pass  # no writable cache: the next start hashes again


def entries(artifacts: Iterable[Artifact]) -> List[_Entry]:
    """Every file the artifacts record: each main model file, then its further files (IR weights)."""
    return [entry for art in artifacts for entry in (art, *art.files)]


def check_files(root: Union[str, Path], artifacts: Iterable[Artifact], use_cache: bool = False) -> int:
    """Hash each file of ``artifacts`` under ``root``; raise ``ManifestError`` naming the first that differs.

    ``use_cache``: skip files whose (size, mtime) match a hash verified before. Returns the number
    of files hashed now (0 when all came from the cache).
    """
    root = Path(root)
    cache_file = cache_path() if use_cache else None
    cache = _load_cache(cache_file) if cache_file else {}
    hashed = 0
    for entry in entries(artifacts):
        path = root / entry.path
        try:
            stat = path.stat()
        except OSError as exc:
            raise ManifestError(path, f"cannot be read ({exc.strerror})") from None
        key = str(path.resolve())
        stamp: Tuple[int, int, str] = (stat.st_size, stat.st_mtime_ns, entry.sha256)
        if cache_file is not None and tuple(cache.get(key) or ()) == stamp:
            continue
        hashed += 1
        actual = _sha256(path)
        if actual != entry.sha256:
            cache.pop(key, None)
            if cache_file is not None:
                _save_cache(cache_file, cache)
            raise ManifestError(
                path,
                f"does not match the sha256 in {root.name}/manifest.json (sha256 {actual[:12]}..., "
                f"recorded {entry.sha256[:12]}...): the file was modified or corrupted since "
                "conversion; copy the bundle again or reconvert",
            )
        cache[key] = list(stamp)
    if cache_file is not None and hashed:
        _save_cache(cache_file, cache)
    return hashed
