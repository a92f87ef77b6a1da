"""``validate``: run a bundle over a labelled set and score it with the one evaluation module."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from edgekit.errors import InputFileError
from edgekit.eval.coco import ImageDetections, coco_results, evaluate_task, load_gt
from edgekit.eval.result import TASK_IOU_TYPE, EvalResult
from edgekit.eval.yolo import coco_from_data_yaml, split_images

PathLike = Union[str, Path]


@dataclass(frozen=True)
class Protocol:
    """How detections are decoded for scoring (every protocol keeps detections down to ``conf``)."""

    conf: float
    iou: float
    max_det: int
    multi_label: bool
    obb_overlap: str  # how oriented boxes are matched to the truth (``edgekit.eval.obb.OVERLAPS``)


#: "coco": each anchor's best class, NMS at IoU 0.6, oriented boxes matched by polygon IoU
#: (edgekit's default); "ultralytics": the decoding and matching of Ultralytics' ``yolo val`` (every
#: class above 0.001 per anchor, NMS at IoU 0.7, oriented boxes matched by probiou)
PROTOCOLS: Dict[str, Protocol] = {  # one per name of ``edgekit.vocab.EVAL_PROTOCOLS``
    "coco": Protocol(conf=0.001, iou=0.6, max_det=300, multi_label=False, obb_overlap="polygon"),
    "ultralytics": Protocol(conf=0.001, iou=0.7, max_det=300, multi_label=True, obb_overlap="probiou"),
}
EVAL_CONF, EVAL_IOU, EVAL_MAX_DET = (PROTOCOLS["coco"].conf, PROTOCOLS["coco"].iou, PROTOCOLS["coco"].max_det)


def rect_canvases(
    sizes: Sequence[Tuple[int, int]], imgsz: int, stride: int = 32, batch: int = 16, pad: float = 0.5
) -> List[Tuple[int, int]]:
    """The (height, width) input each image of ``sizes`` ((height, width), dataset order) is padded into
    by ``yolo val imgsz=...``'s rectangular batches (``rect=True``, its default for a PyTorch model):
    ``BaseDataset.set_rectangle`` sorts the images by aspect ratio, cuts batches of ``batch`` and shapes
    each for its extreme ratios, rounded up to ``stride`` after ``pad`` strides more."""
    ar = np.array([h / w for h, w in sizes], dtype=np.float64)
    order = ar.argsort()
    canvases: List[Tuple[int, int]] = [(0, 0)] * len(sizes)
    for start in range(0, len(sizes), batch):
        members = order[start : start + batch]
        lo, hi = ar[members].min(), ar[members].max()
        shape = (hi, 1.0) if hi < 1 else (1.0, 1 / lo) if lo > 1 else (1.0, 1.0)
        h, w = (int(np.ceil(v * imgsz / stride + pad)) * stride for v in shape)
        for i in members:
            canvases[i] = (h, w)
    return canvases


def yolo_val_inputs(gt: dict, imgsz: int) -> Tuple[List[Tuple[int, int]], Tuple[int, int]]:
    """``rect_canvases`` of ``gt``'s images, and the (height, width) most of them get."""
    canvases = rect_canvases([(img["height"], img["width"]) for img in gt["images"]], imgsz)
    return canvases, max(set(canvases), key=canvases.count)


def input_note(gt: dict, input_hw: Tuple[int, int], fit: Optional[int]) -> str:
    """How this run's input compares with ``yolo val``'s (square ``imgsz`` with ``rect=False``;
    rectangular batches with its default ``rect=True``), for the ultralytics protocol's report.
    Sizes are written width x height, as ``edgekit convert --imgsz`` takes them."""
    size = fit or max(input_hw)
    canvases, common = yolo_val_inputs(gt, size)
    same = sum(c == tuple(input_hw) for c in canvases)
    ours, theirs = f"{input_hw[1]}x{input_hw[0]}", f"{common[1]}x{common[0]}"
    if fit and same == len(canvases):
        return f"input as yolo val imgsz={size} (rect=True): long side {size}, padded into {ours}"
    rule = f"long side {size}, padded into {ours}" if fit else f"scaled to fill {ours}"
    return (
        f"input {rule}; yolo val imgsz={size} batch=16 pads {len(canvases) - same} of {len(canvases)} images "
        f"into other shapes (most into {theirs}; rect=False: {size}x{size}). For its default "
        f"(rect=True): convert with --imgsz {theirs} and val with --imgsz {size}"
    )


def detect_rows(det: Any, gt: dict, folder: Path, images: List[dict], p: Protocol) -> List[Dict[str, Any]]:
    """``det``'s detections on ``images`` (entries of ``gt["images"]`` under ``folder``) as COCO
    results rows for its task (masks as RLE, made per image and not kept)."""
    from edgekit.decoding.images import load_image

    iou_type = TASK_IOU_TYPE.get(det.manifest.decoder.task, "bbox")
    rows: List[Dict[str, Any]] = []
    for img in images:
        r = det(
            load_image(folder / img["file_name"]),
            conf=p.conf,
            iou=p.iou,
            max_det=p.max_det,
            multi_label=p.multi_label,
        )
        found = ImageDetections(
            img["id"], r.xyxy, r.confidence, r.class_id, masks=r.masks, keypoints=r.keypoints, xywhr=r.xywhr
        )
        rows += coco_results([found], gt, iou_type=iou_type)
    return rows


def subset_metric(det: Any, gt: dict, folder: Path, images: List[dict], protocol: str = "coco") -> float:
    """mAP50-95 of ``det`` on ``images`` only (a subset of ``gt``), on its task's own metric: the
    validation function of NNCF's accuracy control (``edgekit.converters.int8``)."""
    p, task = PROTOCOLS[protocol], det.manifest.decoder.task
    ids = {img["id"] for img in images}
    subset = {
        **gt,
        "images": list(images),
        "annotations": [a for a in gt["annotations"] if a["image_id"] in ids],
    }
    rows = detect_rows(det, gt, folder, images, p)
    if not any(not a.get("iscrowd", 0) for a in subset["annotations"]):
        return float(not rows)  # nothing to find: right only when nothing is found
    result = evaluate_task(subset, rows, task, obb_overlap=p.obb_overlap)
    return float((result.task_result or result).map50_95)


def load_labelled_set(
    data: PathLike, split: str = "val", images: Optional[PathLike] = None, task: str = "detect"
) -> Tuple[dict, Path]:
    """Ground truth (COCO dict) and the image folder, from a ``data.yaml`` or a COCO json + ``images``;
    ``task`` says how to read YOLO labels (a COCO json carries its segmentation / keypoints as given)."""
    data = Path(data)
    if not data.exists():
        raise InputFileError(data, "no such dataset file")
    if data.suffix.lower() in (".yaml", ".yml"):
        folder, _ = split_images(data, split)
        return coco_from_data_yaml(data, split, task), folder
    if data.suffix.lower() == ".json":
        folder = Path(images) if images else data.parent.parent / "images" / split
        if not folder.is_dir():
            raise InputFileError(folder, "image folder of the COCO json not found (pass --images)")
        return load_gt(data), folder
    raise InputFileError(data, "expected a YOLO data.yaml or a COCO json")


@contextmanager
def fitted(det: Any, imgsz: Optional[int]) -> Iterator[None]:
    """``det`` scaling each image's long side to ``imgsz`` inside its input, while in the block."""
    if not imgsz:
        yield
        return
    if det.manifest.preprocess.resize != "letterbox":
        raise ValueError(f"--imgsz {imgsz} applies to letterbox bundles; this bundle stretches each image")
    fit, det.preprocess.fit = det.preprocess.fit, imgsz
    try:
        yield
    finally:
        det.preprocess.fit = fit


def validate(
    bundle: Any,
    data: PathLike,
    split: str = "val",
    images: Optional[PathLike] = None,
    backend: Optional[str] = None,
    threads: Optional[int] = None,
    save_json: Optional[PathLike] = None,
    protocol: str = "coco",
    imgsz: Optional[int] = None,
) -> Tuple[EvalResult, Dict[str, Any]]:
    """mAP of ``bundle`` on ``data`` decoded by ``protocol`` (``PROTOCOLS``); returns the result and
    run facts (images, ms per image, the decoding, the task, and for the ultralytics protocol how
    the input compares with ``yolo val``'s). A segment / pose / OBB bundle (its manifest's
    ``decoder.task``) is scored on boxes and on the task's metric (``task_result``). ``imgsz``: each
    image's long side scaled to it, then padded into the model's input (``Preprocessor``'s ``fit``),
    as ``yolo val imgsz=...``; default: images scaled to fill the input."""
    from edgekit.detector import Detector

    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    p = PROTOCOLS[protocol]
    det = bundle if isinstance(bundle, Detector) else Detector(bundle, backend=backend, threads=threads)
    task = det.manifest.decoder.task
    gt, folder = load_labelled_set(data, split, images, task)
    with fitted(det, imgsz):
        started = time.perf_counter()
        rows = detect_rows(det, gt, folder, gt["images"], p)
        seconds = time.perf_counter() - started
    result = evaluate_task(gt, rows, task, obb_overlap=p.obb_overlap)
    if save_json:
        Path(save_json).write_text(json.dumps(rows))
    facts = {
        "images": len(gt["images"]),
        "backend": det.backend,
        "ms_per_image": 1e3 * seconds / max(len(gt["images"]), 1),
        "protocol": protocol,
        "task": task,
        "conf": p.conf,
        "iou": p.iou,
        "multi_label": p.multi_label,
        **({"obb_overlap": p.obb_overlap} if task == "obb" else {}),
        **({"imgsz": imgsz} if imgsz else {}),
    }
    if protocol == "ultralytics":
        facts["input"] = input_note(gt, (det.preprocess.height, det.preprocess.width), imgsz)
    return result, facts
