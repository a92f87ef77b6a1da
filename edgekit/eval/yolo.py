"""YOLO-format datasets (``data.yaml`` + label txt files) as COCO ground truth for ``evaluate``.

YOLO labels hold ``class cx cy w h`` normalised to the image size, or ``class x1 y1 x2 y2 ...``
polygons (segmentation labels; their box is the polygon's extent). Category ids of the
produced COCO dict are class index + 1. Image sizes are read from the PNG / JPEG header
(no decoding; OpenCV only for other formats).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple, Union

from edgekit._optional import require
from edgekit.errors import InputFileError
from edgekit.vocab import IMAGE_SUFFIXES

PathLike = Union[str, Path]
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> Tuple[int, int]:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _SOF:
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    raise ValueError("no frame header")


def image_size(path: PathLike) -> Tuple[int, int]:
    """``(width, height)`` of an image file."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(1 << 16)
            if head[:8] == b"\x89PNG\r\n\x1a\n":
                w, h = struct.unpack(">II", head[16:24])
                return int(w), int(h)
            if head[:2] == b"\xff\xd8":
                try:
                    return _jpeg_size(head)
                except (ValueError, struct.error):
                    return _jpeg_size(head + f.read())  # huge EXIF block before the frame header
    except OSError as exc:
        raise InputFileError(path, f"cannot read the image ({exc})") from exc
    except (ValueError, struct.error) as exc:
        raise InputFileError(path, f"corrupt JPEG header ({exc})") from exc
    cv2 = require("cv2", reason=f"reading the size of a {path.suffix} image")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InputFileError(path, "not a readable image")
    return int(img.shape[1]), int(img.shape[0])


def _label_boxes(path: Path, nc: int, w: int, h: int) -> List[Tuple[int, List[float]]]:
    """(class, [x, y, w, h] in pixels) for each line of a YOLO label file."""
    out = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            cls, values = int(parts[0]), [float(v) for v in parts[1:]]
        except ValueError as exc:
            raise InputFileError(path, f"line {lineno}: not numbers ({exc})") from exc
        if not 0 <= cls < nc:
            raise InputFileError(path, f"line {lineno}: class {cls} is outside 0..{nc - 1}")
        if len(values) == 4:
            cx, cy, bw, bh = values
            x0, y0, x1, y1 = cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2
        elif len(values) >= 6 and len(values) % 2 == 0:
            xs, ys = values[0::2], values[1::2]
            x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        else:
            raise InputFileError(path, f"line {lineno}: expected 'class cx cy w h' or a polygon")
        x0, x1 = max(0.0, x0) * w, min(1.0, x1) * w
        y0, y1 = max(0.0, y0) * h, min(1.0, y1) * h
        out.append((cls, [x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0)]))
    return out


def yolo_to_coco(images_dir: PathLike, labels_dir: PathLike, names: Sequence[str]) -> Dict[str, Any]:
    """COCO ground truth for the images under ``images_dir`` (recursively, sorted by path).

    The label of ``images_dir/a/b.jpg`` is ``labels_dir/a/b.txt``; a missing label file means
    an image without objects. ``file_name`` is the image path relative to ``images_dir``.
    Image ids are the file stems when all are distinct numbers (what Ultralytics writes into
    ``predictions.json``), else 1, 2, ... in path order.
    """
    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    if not images_dir.is_dir():
        raise InputFileError(images_dir, "not a folder of images")
    files = sorted(p for p in images_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputFileError(images_dir, f"no images ({', '.join(IMAGE_SUFFIXES)})")
    stems = [p.stem for p in files]
    numeric = all(s.isdigit() for s in stems) and len({int(s) for s in stems}) == len(stems)
    ids = [int(s) for s in stems] if numeric else list(range(1, len(files) + 1))
    images, annotations = [], []
    for image_id, path in zip(ids, files):
        rel = path.relative_to(images_dir)
        w, h = image_size(path)
        images.append({"id": image_id, "file_name": rel.as_posix(), "width": w, "height": h})
        label = (labels_dir / rel).with_suffix(".txt")
        if label.exists():
            for cls, box in _label_boxes(label, len(names), w, h):
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": cls + 1,
                        "bbox": box,
                        "area": box[2] * box[3],
                        "iscrowd": 0,
                    }
                )
    categories = [{"id": i + 1, "name": str(n)} for i, n in enumerate(names)]
    return {"images": images, "annotations": annotations, "categories": categories}


def labels_dir_for(images_dir: PathLike) -> Path:
    """Ultralytics' rule: the labels of ``.../images/...`` are in ``.../labels/...``."""
    parts = list(Path(images_dir).parts)
    if "images" not in parts:
        raise InputFileError(images_dir, "cannot find its labels: the path has no 'images' folder")
    i = len(parts) - 1 - parts[::-1].index("images")
    parts[i] = "labels"
    return Path(*parts)


def coco_from_data_yaml(data_yaml: PathLike, split: str = "val") -> Dict[str, Any]:
    """COCO ground truth for one split of an Ultralytics-style ``data.yaml`` (split given as a folder)."""
    images, names = split_images(data_yaml, split)
    return yolo_to_coco(images, labels_dir_for(images), names)


def split_images(data_yaml: PathLike, split: str = "val") -> Tuple[Path, List[str]]:
    """The image folder of one split of a ``data.yaml`` and the class names."""
    yaml = require("yaml", reason="reading data.yaml")
    data_yaml = Path(data_yaml)
    try:
        data = yaml.safe_load(data_yaml.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputFileError(data_yaml, f"not a readable YAML file ({exc})") from exc
    if not isinstance(data, dict) or split not in data or "names" not in data:
        raise InputFileError(data_yaml, f"needs '{split}' and 'names' entries")
    root = Path(data.get("path") or ".")
    root = root if root.is_absolute() else data_yaml.parent / root
    entry = data[split]
    if not isinstance(entry, str):
        raise InputFileError(data_yaml, f"'{split}' must be one folder of images (lists are not supported)")
    images = Path(entry) if Path(entry).is_absolute() else root / entry
    if not images.is_dir():
        raise InputFileError(
            data_yaml, f"'{split}': {images} is not a folder (image lists are not supported)"
        )
    names = data["names"]
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names, key=int)]
    return images, [str(n) for n in names]
