"""Where calibration images come from: an image folder, a video, a YOLO dataset yaml or a COCO json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from edgekit.errors import CalibrationError
from edgekit.vocab import IMAGE_SUFFIXES, VIDEO_SUFFIXES

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Skipped:
    """A file (or video frame) that could not be used, and why."""

    path: str
    reason: str

    def to_dict(self) -> Dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass(frozen=True)
class Found:
    """The candidates of a source: image files (sorted), or one video; plus what was left out."""

    kind: str  # "folder" | "video" | "yolo" | "coco"
    images: Tuple[Path, ...]
    skipped: Tuple[Skipped, ...] = ()
    video: Optional[Path] = None


def discover(source: Path, split: Optional[str] = None, image_root: Optional[Path] = None) -> Found:
    """List the candidates of ``source``; raises ``CalibrationError`` naming the path if it is unusable."""
    if not source.exists():
        raise CalibrationError(f"{source}: no such calibration file or folder")
    if source.is_dir():
        images, skipped = scan_folder(source)
        return Found("folder", images, skipped)
    suffix = source.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return Found("video", (), (), source)
    if suffix in YAML_SUFFIXES:
        images, skipped = yolo_images(source, split)
        return Found("yolo", images, skipped)
    if suffix == ".json":
        images, skipped = coco_images(source, image_root)
        return Found("coco", images, skipped)
    if suffix in IMAGE_SUFFIXES:
        return Found("folder", (source,))
    raise CalibrationError(
        f"{source}: not a calibration source (expected an image folder, a video, a YOLO dataset yaml "
        "or a COCO json)"
    )


def scan_folder(folder: Path) -> Tuple[Tuple[Path, ...], Tuple[Skipped, ...]]:
    """Image files under ``folder`` (recursive, sorted); other files are reported as skipped."""
    images: List[Path] = []
    skipped: List[Skipped] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name.startswith("."):
            continue  # hidden files (.DS_Store, editor swap files) are not data
        if path.suffix.lower() in IMAGE_SUFFIXES:
            images.append(path)
        else:
            skipped.append(Skipped(str(path), "not an image file"))
    return tuple(images), tuple(skipped)


def _yaml(path: Path) -> Dict[str, Any]:
    try:
        import yaml
    except ImportError:  # pragma: no cover - pyyaml is a dependency of the converter
        raise CalibrationError(f"{path}: reading a YOLO dataset yaml needs pyyaml") from None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except Exception as exc:  # noqa: BLE001 - yaml raises many types
        raise CalibrationError(f"{path}: not a readable YAML file ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise CalibrationError(f"{path}: not a YOLO dataset yaml (expected a mapping with train/val)")
    return data


def yolo_images(path: Path, split: Optional[str] = None) -> Tuple[Tuple[Path, ...], Tuple[Skipped, ...]]:
    """The images of a YOLO dataset yaml's ``split`` (default: train, else val).

    Entries may be folders, ``.txt`` lists of image paths, or lists of either, relative to the
    yaml's ``path`` key (itself relative to the yaml's folder) as in Ultralytics' dataset files.
    """
    data = _yaml(path)
    root = Path(str(data.get("path") or "."))
    root = root if root.is_absolute() else path.parent / root
    splits: Sequence[str] = (split,) if split else ("train", "val")
    chosen = next((s for s in splits if data.get(s)), None)
    if chosen is None:
        raise CalibrationError(f"{path}: the dataset yaml has no {' or '.join(splits)} entry")
    entries = data[chosen] if isinstance(data[chosen], list) else [data[chosen]]
    images: List[Path] = []
    skipped: List[Skipped] = []
    for entry in entries:
        where = Path(str(entry))
        where = where if where.is_absolute() else root / where
        if where.is_dir():
            found, rest = scan_folder(where)
            images += found
            skipped += rest
        elif where.is_file() and where.suffix.lower() == ".txt":
            for line in where.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    item = Path(line.strip())
                    images.append(item if item.is_absolute() else root / item)
        else:
            skipped.append(Skipped(str(where), f"the {chosen} entry is not a folder or an image list"))
    return tuple(images), tuple(skipped)


def coco_images(
    path: Path, image_root: Optional[Path] = None
) -> Tuple[Tuple[Path, ...], Tuple[Skipped, ...]]:
    """The images a COCO json lists (``images[].file_name``), sorted by file name.

    File names are looked up under ``image_root``, else the json's folder, its parent, and an
    ``images`` folder beside either; missing files are reported as skipped.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        names = sorted({str(im["file_name"]) for im in data["images"]})
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise CalibrationError(f"{path}: not a COCO json (expected images[].file_name)") from None
    parent = path.parent
    roots = (
        [image_root] if image_root else [parent, parent.parent, parent / "images", parent.parent / "images"]
    )
    root = next((r for r in roots if r is not None and names and (r / names[0]).is_file()), roots[0])
    images: List[Path] = []
    skipped: List[Skipped] = []
    for name in names:
        file = Path(root) / name
        if file.is_file():
            images.append(file)
        else:
            skipped.append(Skipped(str(file), "listed in the json but missing"))
    return tuple(images), tuple(skipped)
