"""The synthetic shapes dataset: seeded, deterministic, YOLO txt + COCO json, for every task.

``generate(out_dir, n_train, n_val, n_test, seed=0, task="detect")`` writes::

    out_dir/images/{split}/000001.jpg      RGB scenes, imgsz x imgsz (JPEG, random quality 65-95)
    out_dir/labels/{split}/000001.txt      YOLO: "class cx cy w h", normalised, one object a line
    out_dir/annotations/{split}.json       COCO: bbox [x, y, w, h]; category id = class index + 1
    out_dir/data.yaml                      Ultralytics dataset file (absolute path, names)
    out_dir/dataset.json                   generator version, seed, config and statistics

Image ``index`` (0-based) is ``{index + 1:06d}.jpg`` with COCO image id ``index + 1``: the
file stem is the image id, as Ultralytics assumes when it writes ``predictions.json``, and
category ids are class + 1 as Ultralytics writes them for non-COCO data, so its results
evaluate against these annotations as they are.

Every image is drawn from its own generator seeded by ``(seed, split, index)``, so any
image can be regenerated alone (``render_sample``), in any order or in parallel, with the
same pixels and labels. Boxes are the tight box of the object's visible pixels (COCO's
convention); objects less than 40 % visible are not drawn at all. COCO ``area`` is the box
area (there are no masks), which is also what decides small / medium / large.

``task`` ("detect", "segment", "pose", "obb") picks the labels; the images are the same for
every task, and "detect" writes what the generator always wrote (no ``task`` key in
dataset.json, which means "detect"). The other tasks write Ultralytics' label lines of the task
(segment: ``class x1 y1 ... xn yn``; pose: ``class cx cy w h`` + ``x y v`` for 4 keypoints, with
``kpt_shape`` and ``flip_idx`` in data.yaml; obb: ``class x1 y1 ... x4 y4``) and COCO's fields
(segment: ``segmentation`` as uncompressed RLE and ``area`` the mask's pixel count; pose:
``keypoints``, ``num_keypoints``, ``area`` the mask's pixel count, keypoint names and skeleton
in the categories; obb: ``xywhr``, edgekit's non-standard field). How each is derived from the
drawn pixels: ``edgekit.testing.tasks``.

Default size: 320 px images, on which a nano detector trains in minutes on a CPU.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from edgekit.testing.backgrounds import PHOTO_SUFFIXES, PhotoSource, _cv2
from edgekit.testing.draw import CLASS_NAMES
from edgekit.testing.scene import Annotation, SceneConfig, render_scene
from edgekit.testing.tasks import (
    check_task,
    coco_categories,
    coco_fields,
    data_yaml_lines,
    instances,
    xywhr,
    yolo_task_line,
)

#: bumped when the images or the labels of a (seed, split, index) change; the task labels added
#: in version 1 left the images and the detect labels as they were
GENERATOR_VERSION = 1
SPLITS = ("train", "val", "test")
_SPLIT_CODE = {"train": 0, "val": 1, "test": 2}
SMALL_AREA, MEDIUM_AREA = 32**2, 96**2  # COCO's size buckets, on the box area


@dataclass(frozen=True)
class SplitStats:
    """Counts over one split. ``occluded``: objects less than 95 % visible."""

    images: int
    objects: int
    per_class: Dict[str, int]
    small: int
    medium: int
    large: int
    occluded: int


@dataclass(frozen=True)
class DatasetInfo:
    """What ``generate`` wrote, and where."""

    root: Path
    names: Tuple[str, ...]
    imgsz: int
    seed: int
    splits: Dict[str, SplitStats]
    task: str = "detect"

    @property
    def data_yaml(self) -> Path:
        return self.root / "data.yaml"

    def images(self, split: str) -> Path:
        return self.root / "images" / split

    def labels(self, split: str) -> Path:
        return self.root / "labels" / split

    def annotations(self, split: str) -> Path:
        return self.root / "annotations" / f"{split}.json"

    def to_dict(self) -> dict:
        task = {} if self.task == "detect" else {"task": self.task}  # no key: detect, as before tasks
        return {
            "generator": "edgekit.testing.shapes",
            "version": GENERATOR_VERSION,
            **task,
            "seed": self.seed,
            "imgsz": self.imgsz,
            "names": list(self.names),
            "splits": {k: asdict(v) for k, v in self.splits.items()},
        }


@dataclass(frozen=True)
class Sample:
    """One image in memory: RGB uint8 pixels, boxes ``(N, 4)`` xyxy in pixels, class indices ``(N,)``.

    With a task: ``masks`` ``(N, H, W)`` bool (segment), ``keypoints`` ``(N, 4, 3)`` x, y, visibility
    (pose), ``xywhr`` ``(N, 5)`` oriented boxes in pixels and radians (obb).
    """

    image: np.ndarray
    boxes: np.ndarray
    class_ids: np.ndarray
    names: Tuple[str, ...] = CLASS_NAMES
    masks: Optional[np.ndarray] = None
    keypoints: Optional[np.ndarray] = None
    xywhr: Optional[np.ndarray] = None

    @property
    def bgr(self) -> np.ndarray:
        return np.ascontiguousarray(self.image[..., ::-1])


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator that draws image ``index`` of ``split``."""
    if split not in _SPLIT_CODE:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), _SPLIT_CODE[split], int(index)]))


def _encode(image: np.ndarray, quality: int, fmt: str) -> bytes:
    cv2 = _cv2()
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "jpg" else []
    ok, buf = cv2.imencode(f".{fmt}", np.ascontiguousarray(image[..., ::-1]), params)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a .{fmt} image")
    return buf.tobytes()


def render_sample(
    seed: int = 0,
    imgsz: int = 320,
    index: int = 0,
    split: str = "test",
    config: Optional[SceneConfig] = None,
    image_format: str = "jpg",
    photos_dir: Optional[Union[str, Path]] = None,
    task: str = "detect",
) -> Sample:
    """Image ``index`` of ``split`` exactly as ``generate`` writes it (decoded after compression)."""
    cv2 = _cv2()
    check_task(task)
    cfg = replace(config or SceneConfig(), imgsz=imgsz)
    photos = None if photos_dir is None else _photo_source(str(Path(photos_dir).resolve()))
    scene = render_scene(image_rng(seed, split, index), cfg, photos)
    data = np.frombuffer(_encode(scene.image, scene.jpeg_quality, image_format), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
    boxes = np.array([a.box for a in scene.annotations], np.float32).reshape(-1, 4)
    classes = np.array([a.cls for a in scene.annotations], np.int64)
    sample = Sample(np.ascontiguousarray(image), boxes, classes)
    return sample if task == "detect" else _with_task(sample, instances(scene), task, cfg.imgsz)


def _with_task(sample: Sample, insts: list, task: str, imgsz: int) -> Sample:
    if task == "segment":
        masks = np.array([i.full_mask((imgsz, imgsz)) for i in insts], bool).reshape(-1, imgsz, imgsz)
        return replace(sample, masks=masks)
    if task == "pose":
        return replace(sample, keypoints=np.array([i.keypoints for i in insts], np.float32).reshape(-1, 4, 3))
    return replace(sample, xywhr=np.array([xywhr(i.corners) for i in insts], np.float32).reshape(-1, 5))


def file_stem(index: int) -> str:
    """The file name (without suffix) of image ``index``: its COCO image id, ``index + 1``."""
    return f"{index + 1:06d}"


def yolo_line(ann: Annotation, imgsz: int) -> str:
    x0, y0, x1, y1 = ann.box
    cx, cy, w, h = (x0 + x1) / 2 / imgsz, (y0 + y1) / 2 / imgsz, (x1 - x0) / imgsz, (y1 - y0) / imgsz
    return f"{ann.cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


_Job = Tuple[str, str, int, int, SceneConfig, Optional[str], str, str]


def _make_image(job: _Job) -> Tuple[List[Annotation], List[dict]]:
    """Render, compress and write one image and its YOLO label file (runs in a worker).

    Returns the annotations and, per annotation, the COCO fields of the task.
    """
    root, split, index, seed, cfg, photos_dir, fmt, task = job
    photos = _photo_source(photos_dir)
    scene = render_scene(image_rng(seed, split, index), cfg, photos)
    name = file_stem(index)
    Path(root, "images", split, f"{name}.{fmt}").write_bytes(_encode(scene.image, scene.jpeg_quality, fmt))
    lines = [yolo_line(a, cfg.imgsz) for a in scene.annotations]
    extra: List[dict] = [{} for _ in lines]
    if task != "detect":
        insts = instances(scene)
        lines = [
            yolo_task_line(task, a, i, cfg.imgsz, ln) for a, i, ln in zip(scene.annotations, insts, lines)
        ]
        extra = [coco_fields(task, i, cfg.imgsz) for i in insts]
    Path(root, "labels", split, f"{name}.txt").write_text("".join(ln + "\n" for ln in lines))
    return scene.annotations, extra


_PHOTOS: Dict[str, PhotoSource] = {}


def _photo_source(folder: Optional[str]) -> Optional[PhotoSource]:
    if folder is None:
        return None
    if folder not in _PHOTOS:
        _PHOTOS[folder] = PhotoSource(Path(folder))
    return _PHOTOS[folder]


def coco_dict(
    split_anns: Sequence[Sequence[Annotation]],
    imgsz: int,
    fmt: str = "jpg",
    task: str = "detect",
    extras: Optional[Sequence[Sequence[dict]]] = None,
) -> dict:
    """COCO ground truth for one split (image ids = index + 1, category ids = class + 1).

    ``extras``: per image and annotation, the task's fields (``edgekit.testing.tasks.coco_fields``).
    """
    images, annotations = [], []
    for index, anns in enumerate(split_anns):
        more = extras[index] if extras is not None else [{}] * len(anns)
        images.append(
            {"id": index + 1, "file_name": f"{file_stem(index)}.{fmt}", "width": imgsz, "height": imgsz}
        )
        for a, fields in zip(anns, more):
            x0, y0, x1, y1 = a.box
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index + 1,
                    "category_id": a.cls + 1,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                    "iscrowd": 0,
                    **fields,
                }
            )
    categories = coco_categories(task, CLASS_NAMES)
    info = {"description": "edgekit synthetic shapes", "version": str(GENERATOR_VERSION)}
    return {"info": info, "images": images, "annotations": annotations, "categories": categories}


def split_stats(split_anns: Sequence[Sequence[Annotation]]) -> SplitStats:
    flat = [a for anns in split_anns for a in anns]
    areas = np.array([(a.box[2] - a.box[0]) * (a.box[3] - a.box[1]) for a in flat], dtype=np.int64)
    per_class = {n: 0 for n in CLASS_NAMES}
    for a in flat:
        per_class[CLASS_NAMES[a.cls]] += 1
    return SplitStats(
        images=len(split_anns),
        objects=len(flat),
        per_class=per_class,
        small=int((areas < SMALL_AREA).sum()),
        medium=int(((areas >= SMALL_AREA) & (areas < MEDIUM_AREA)).sum()),
        large=int((areas >= MEDIUM_AREA).sum()),
        occluded=sum(a.visible < 0.95 for a in flat),
    )


def _data_yaml(root: Path, counts: Dict[str, int], task: str = "detect") -> str:
    title = f"# edgekit synthetic shapes v{GENERATOR_VERSION}" + ("" if task == "detect" else f", {task}")
    lines = [title, f"path: {root.resolve()}"]
    lines += [f"{split}: images/{split}" for split in SPLITS if counts[split] > 0]
    lines += data_yaml_lines(task)
    lines += [f"nc: {len(CLASS_NAMES)}", "names:"] + [f"  {i}: {n}" for i, n in enumerate(CLASS_NAMES)]
    return "\n".join(lines) + "\n"


def _clear_split(root: Path, split: str, overwrite: bool) -> None:
    """Remove an earlier split (images, labels, Ultralytics' label cache, COCO json) or refuse to."""
    dirs = [root / "images" / split, root / "labels" / split]
    files = [root / "labels" / f"{split}.cache", root / "annotations" / f"{split}.json"]
    for sub in dirs:
        if sub.exists() and any(sub.iterdir()) and not overwrite:
            raise FileExistsError(f"{sub} is not empty (pass overwrite=True to replace it)")
    for sub in dirs:
        if sub.exists():
            shutil.rmtree(sub)
    for file in files:
        if file.exists():
            file.unlink()


def _write_split(jobs: List[_Job], pool: Optional[ProcessPoolExecutor]) -> SplitStats:
    """Draw one split's images and labels, then write its COCO json."""
    root, split, _, _, cfg, _, fmt, task = jobs[0]
    made = (
        [_make_image(job) for job in jobs]
        if pool is None
        else list(pool.map(_make_image, jobs, chunksize=16))
    )
    anns = [m[0] for m in made]
    coco = coco_dict(anns, cfg.imgsz, fmt, task, [m[1] for m in made])
    Path(root, "annotations", f"{split}.json").write_text(json.dumps(coco, separators=(",", ":")))
    return split_stats(anns)


def generate(
    out_dir: Union[str, Path],
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int = 0,
    imgsz: int = 320,
    *,
    config: Optional[SceneConfig] = None,
    photos_dir: Optional[Union[str, Path]] = None,
    workers: int = 1,
    image_format: str = "jpg",
    overwrite: bool = False,
    task: str = "detect",
) -> DatasetInfo:
    """Write the dataset to ``out_dir`` (see the module docstring) and return what was written.

    ``photos_dir``: a folder of real photos to crop backgrounds from (half the backgrounds);
    ``workers``: processes drawing images (the output does not depend on it); ``task``: the labels
    ("detect", "segment", "pose" or "obb").
    """
    check_task(task)
    if image_format not in ("jpg", "png"):
        raise ValueError(f"image_format must be 'jpg' or 'png', not {image_format!r}")
    counts = {"train": int(n_train), "val": int(n_val), "test": int(n_test)}
    if min(counts.values()) < 0 or counts["train"] + counts["val"] + counts["test"] == 0:
        raise ValueError(f"split sizes must be >= 0 and not all 0, got {counts}")
    root = Path(out_dir)
    cfg = replace(config or SceneConfig(), imgsz=int(imgsz))
    photos = None if photos_dir is None else str(Path(photos_dir).resolve())
    if photos is not None and not len(_photo_source(photos)):
        raise ValueError(f"{photos_dir}: no images ({', '.join(PHOTO_SUFFIXES)}) found")
    for split in SPLITS:
        _clear_split(root, split, overwrite)
        if counts[split]:
            (root / "images" / split).mkdir(parents=True, exist_ok=True)
            (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)

    stats: Dict[str, SplitStats] = {}
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        for split in SPLITS:
            if counts[split]:
                jobs = [
                    (str(root), split, i, seed, cfg, photos, image_format, task) for i in range(counts[split])
                ]
                stats[split] = _write_split(jobs, pool)
    finally:
        if pool is not None:
            pool.shutdown()
    info = DatasetInfo(root, CLASS_NAMES, cfg.imgsz, int(seed), stats, task)
    (root / "data.yaml").write_text(_data_yaml(root, counts, task))
    meta = dict(info.to_dict(), config=asdict(cfg), photos=photos is not None, image_format=image_format)
    (root / "dataset.json").write_text(json.dumps(meta, indent=1) + "\n")
    return info
