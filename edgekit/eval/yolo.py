"""YOLO-format datasets (``data.yaml`` + label txt files) as COCO ground truth for ``evaluate``.

YOLO labels hold ``class cx cy w h`` normalised to the image size, or ``class x1 y1 x2 y2 ...``
polygons (segmentation labels; their box is the polygon's extent); for the other tasks also the
polygon as COCO ``segmentation`` ("segment"), ``class cx cy w h`` + K keypoints of x, y
(and visibility) as COCO ``keypoints`` ("pose"), or ``class x1 y1 ... x4 y4`` corners as
edgekit's ``xywhr`` ("obb", angle in radians). Category ids of the
produced COCO dict are class index + 1. Image sizes are read from the PNG / JPEG header
(no decoding; OpenCV only for other formats).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from edgekit._optional import require
from edgekit.errors import InputFileError
from edgekit.vocab import IMAGE_SUFFIXES, TASKS

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


def _numbers(path: Path, nc: int) -> List[Tuple[int, int, List[float]]]:
    """(line number, class, values) of each line of a YOLO label file."""
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
        out.append((lineno, cls, values))
    return out


def _box(x0: float, y0: float, x1: float, y1: float, w: int, h: int) -> List[float]:
    """A normalised extent as COCO ``[x, y, w, h]`` pixels, clipped to the image."""
    x0, x1 = max(0.0, x0) * w, min(1.0, x1) * w
    y0, y1 = max(0.0, y0) * h, min(1.0, y1) * h
    return [x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0)]


def _label_anns(path: Path, nc: int, w: int, h: int, task: str, kpt_shape: Sequence[int]) -> List[dict]:
    """The COCO annotation (no ids) of each line of a YOLO label file of ``task``."""
    out = []
    k, ndim = (int(kpt_shape[0]), int(kpt_shape[1])) if task == "pose" else (0, 0)
    pose_values = 4 + int(kpt_shape[0]) * int(kpt_shape[1]) if len(kpt_shape) == 2 else 0
    for lineno, cls, values in _numbers(path, nc):
        where = f"line {lineno}: expected"
        if task != "pose" and len(values) == pose_values:
            values = values[:4]  # a pose label read for its box
        if task == "pose" and len(values) != 4 + k * ndim:
            raise InputFileError(path, f"{where} 'class cx cy w h' and {k} keypoints of {ndim} values")
        if task == "obb" and len(values) != 8:
            raise InputFileError(path, f"{where} 'class x1 y1 x2 y2 x3 y3 x4 y4'")
        if len(values) == 4 or task == "pose":
            cx, cy, bw, bh = values[:4]
            ann = {"bbox": _box(cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, w, h)}
        elif len(values) >= 6 and len(values) % 2 == 0:
            xs, ys = values[0::2], values[1::2]
            ann = {"bbox": _box(min(xs), min(ys), max(xs), max(ys), w, h)}
        else:
            raise InputFileError(path, f"{where} 'class cx cy w h' or a polygon")
        ann.update(category_id=cls + 1, area=ann["bbox"][2] * ann["bbox"][3], iscrowd=0)
        if task == "segment":
            ann.update(_segment(values, w, h) if len(values) >= 6 else _box_polygon(ann["bbox"]))
        elif task == "pose":
            ann.update(_pose(np.array(values[4:], np.float64).reshape(k, ndim), ann["bbox"], w, h))
        elif task == "obb":
            ann.update(_obb(np.array(values, np.float64).reshape(4, 2) * (w, h)))
        out.append(ann)
    return out


def _segment(values: Sequence[float], w: int, h: int) -> Dict[str, Any]:
    """A normalised polygon as a COCO ``segmentation`` (pixels, clipped) with its area."""
    xy = np.clip(np.array(values, np.float64).reshape(-1, 2), 0.0, 1.0) * (w, h)
    x, y = xy[:, 0], xy[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)))
    return {"segmentation": [[float(v) for v in xy.ravel()]], "area": area}


def _box_polygon(bbox: List[float]) -> Dict[str, Any]:
    x, y, bw, bh = bbox
    return {"segmentation": [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]], "area": bw * bh}


def _pose(points: np.ndarray, bbox: List[float], w: int, h: int) -> Dict[str, Any]:
    """COCO ``keypoints`` (x, y, v in pixels; v 0 = unlabelled) and ``num_keypoints``.

    Two values per keypoint: labelled unless negative, as Ultralytics reads them. ``area``
    (the OKS scale) is 0.53 x the box area, as Ultralytics' pose validator and xtcocotools use
    it for annotations without a segment (``models/yolo/pose/val.py``, ``_process_batch``).
    """
    if points.shape[1] == 2:
        vis = np.where((points[:, 0] < 0) | (points[:, 1] < 0), 0.0, 2.0)
    else:
        vis = points[:, 2]
    xyv = np.column_stack([points[:, 0] * w, points[:, 1] * h, vis])
    xyv[vis <= 0] = 0.0  # COCO: an unlabelled keypoint is (0, 0, 0)
    return {
        "keypoints": [float(v) for v in xyv.ravel()],
        "num_keypoints": int((vis > 0).sum()),
        "area": 0.53 * bbox[2] * bbox[3],
    }


def _obb(pts: np.ndarray) -> Dict[str, Any]:
    """edgekit's ``xywhr`` of four corners in order around a rectangle (pixels), and its area.

    Exact for a rectangle; a labelled quadrilateral gets its mean opposite sides.
    """
    side_w = ((pts[1] - pts[0]) + (pts[2] - pts[3])) / 2
    side_h = ((pts[2] - pts[1]) + (pts[3] - pts[0])) / 2
    bw, bh = float(np.hypot(*side_w)), float(np.hypot(*side_h))
    cx, cy = (float(v) for v in pts.mean(axis=0))
    return {"xywhr": [cx, cy, bw, bh, float(np.arctan2(side_w[1], side_w[0]))], "area": bw * bh}


def yolo_to_coco(
    images_dir: PathLike,
    labels_dir: PathLike,
    names: Sequence[str],
    task: str = "detect",
    kpt_shape: Optional[Sequence[int]] = None,
) -> Dict[str, Any]:
    """COCO ground truth for the images under ``images_dir`` (recursively, sorted by path).

    ``task`` reads the labels of another task too: "segment" (polygons as ``segmentation``),
    "pose" (``keypoints`` of ``kpt_shape`` ``[K, 2 or 3]``), "obb" (corners as ``xywhr``).

    The label of ``images_dir/a/b.jpg`` is ``labels_dir/a/b.txt``; a missing label file means
    an image without objects. ``file_name`` is the image path relative to ``images_dir``.
    Image ids are the file stems when all are distinct numbers (what Ultralytics writes into
    ``predictions.json``), else 1, 2, ... in path order.
    """
    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if task == "pose" and (kpt_shape is None or len(kpt_shape) != 2 or kpt_shape[1] not in (2, 3)):
        raise ValueError(f"pose labels need kpt_shape [K, 2 or 3], got {kpt_shape}")
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
            for ann in _label_anns(label, len(names), w, h, task, kpt_shape or ()):
                annotations.append({"id": len(annotations) + 1, "image_id": image_id, **ann})
    categories = [{"id": i + 1, "name": str(n)} for i, n in enumerate(names)]
    if task == "pose":
        for cat in categories:
            cat["keypoints"] = [str(i) for i in range(int(kpt_shape[0]))]
    return {"images": images, "annotations": annotations, "categories": categories}


def labels_dir_for(images_dir: PathLike) -> Path:
    """Ultralytics' rule: the labels of ``.../images/...`` are in ``.../labels/...``."""
    parts = list(Path(images_dir).parts)
    if "images" not in parts:
        raise InputFileError(images_dir, "cannot find its labels: the path has no 'images' folder")
    i = len(parts) - 1 - parts[::-1].index("images")
    parts[i] = "labels"
    return Path(*parts)


def coco_from_data_yaml(
    data_yaml: PathLike, split: str = "val", task: Optional[str] = None
) -> Dict[str, Any]:
    """COCO ground truth for one split of an Ultralytics-style ``data.yaml`` (split given as a folder).

    ``task`` (default: "pose" when the yaml has ``kpt_shape``, else "detect") says how to read the
    labels; a pose set's ``kpt_oks_sigmas``, if any, go into the dict for ``evaluate``.
    """
    images, names = split_images(data_yaml, split)
    data = read_data_yaml(data_yaml)
    task = task or ("pose" if data.get("kpt_shape") else "detect")
    if task == "pose" and not data.get("kpt_shape"):
        raise InputFileError(data_yaml, "a pose dataset needs 'kpt_shape: [K, 2 or 3]'")
    gt = yolo_to_coco(images, labels_dir_for(images), names, task, data.get("kpt_shape"))
    if task == "pose" and data.get("kpt_oks_sigmas"):
        gt["kpt_oks_sigmas"] = [float(v) for v in data["kpt_oks_sigmas"]]
    return gt


def read_data_yaml(data_yaml: PathLike) -> Dict[str, Any]:
    """The entries of a ``data.yaml``."""
    yaml = require("yaml", reason="reading data.yaml")
    try:
        data = yaml.safe_load(Path(data_yaml).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputFileError(data_yaml, f"not a readable YAML file ({exc})") from exc
    if not isinstance(data, dict):
        raise InputFileError(data_yaml, "not a mapping of entries")
    return data


def split_images(data_yaml: PathLike, split: str = "val") -> Tuple[Path, List[str]]:
    """The image folder of one split of a ``data.yaml`` and the class names."""
    data_yaml = Path(data_yaml)
    data = read_data_yaml(data_yaml)
    if split not in data or "names" not in data:
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
