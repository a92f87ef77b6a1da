"""The one evaluation module: COCO box mAP with faster-coco-eval.

Every mAP figure in edgekit (fixture cards, INT8 reports, ``edgekit val``, benchmarks)
comes from ``evaluate``. Ground truth is a COCO dict or json file; predictions are either
per-image detections (``ImageDetections``: xyxy boxes in original-image pixels, scores,
0-based class indices) or COCO results (``[{"image_id", "category_id", "bbox": [x, y, w, h],
"score"}]``, as a list or a json file).

Class indices map to COCO category ids explicitly: index ``i`` is the ``i``-th category of
the ground truth sorted by id (so COCO's 80 classes with ids 1..90 map the usual way, and
1-based datasets are not off by one), unless ``class_to_category`` says otherwise.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from edgekit._optional import require
from edgekit.errors import InputFileError
from edgekit.eval.result import EvalResult

PathLike = Union[str, Path]


@dataclass(frozen=True)
class ImageDetections:
    """The detections of one image. ``image``: COCO image id, or file name (full, base name or stem)."""

    image: Union[int, str]
    boxes: np.ndarray  # (N, 4) x0, y0, x1, y1 in original-image pixels
    scores: np.ndarray  # (N,)
    class_ids: np.ndarray  # (N,) 0-based class indices

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        classes = np.asarray(self.class_ids).reshape(-1)
        if not len(boxes) == len(scores) == len(classes):
            raise ValueError(f"{len(boxes)} boxes, {len(scores)} scores and {len(classes)} class ids differ")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "class_ids", classes.astype(np.int64))


Predictions = Union[PathLike, Sequence[Union[ImageDetections, Mapping[str, Any]]]]


def load_gt(gt: Union[PathLike, Mapping[str, Any]]) -> dict:
    """A private deep copy of COCO ground truth, with ``area`` and ``iscrowd`` filled in where missing."""
    if isinstance(gt, (str, Path)):
        try:
            data = json.loads(Path(gt).read_text())
        except (OSError, ValueError) as exc:
            raise InputFileError(gt, f"not a readable COCO json file ({exc})") from exc
    else:
        data = copy.deepcopy(dict(gt))
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise InputFileError(_name(gt), f"not COCO ground truth: no '{key}' list")
    for ann in data["annotations"]:
        ann.setdefault("area", float(ann["bbox"][2]) * float(ann["bbox"][3]))
        ann.setdefault("iscrowd", 0)
    return data


def _name(source: Any) -> str:
    return str(source) if isinstance(source, (str, Path)) else "<ground truth>"


class _ImageIndex:
    """Finds a ground-truth image id from an id, a file name, a base name or a stem."""

    def __init__(self, images: List[dict]) -> None:
        self.ids = {int(img["id"]) for img in images}
        self.names: Dict[str, int] = {}
        for img in images:
            name = str(img.get("file_name", ""))
            for key in (name, Path(name).name, Path(name).stem):
                self.names.setdefault(key, int(img["id"]))

    def __call__(self, image: Union[int, str]) -> int:
        if isinstance(image, (int, np.integer)) and int(image) in self.ids:
            return int(image)
        if isinstance(image, (str, Path)):
            for key in (str(image), Path(image).name, Path(image).stem):
                if key in self.names:
                    return self.names[key]
        raise InputFileError("predictions", f"image {image!r} is not in the ground truth")


def _as_detections(item: Union[ImageDetections, Mapping[str, Any]]) -> ImageDetections:
    if isinstance(item, ImageDetections):
        return item
    image = next((item[k] for k in ("image_id", "file_name", "image") if k in item), None)
    if image is None or not all(k in item for k in ("boxes", "scores", "class_ids")):
        raise InputFileError("predictions", "each entry needs image_id/file_name, boxes, scores, class_ids")
    return ImageDetections(image, item["boxes"], item["scores"], item["class_ids"])


def coco_results(
    predictions: Predictions, gt: Mapping[str, Any], class_to_category: Optional[Sequence[int]] = None
) -> List[dict]:
    """Predictions as a COCO results list (``bbox`` xywh, ``category_id``), checked against ``gt``."""
    if isinstance(predictions, (str, Path)):
        try:
            predictions = json.loads(Path(predictions).read_text())
        except (OSError, ValueError) as exc:
            raise InputFileError(predictions, f"not a readable COCO results json file ({exc})") from exc
        if not isinstance(predictions, list):
            raise InputFileError("predictions", "a COCO results file holds a list of detections")
    cat_ids = list(class_to_category) if class_to_category is not None else category_order(gt)
    known_cats = {int(c["id"]) for c in gt["categories"]}
    index = _ImageIndex(gt["images"])
    out: List[dict] = []
    for item in predictions:
        if isinstance(item, Mapping) and "bbox" in item and "category_id" in item:
            if int(item["category_id"]) not in known_cats:
                raise InputFileError(
                    "predictions", f"category id {item['category_id']} is not in the ground truth"
                )
            x, y, w, h = (float(v) for v in item["bbox"])
            out.append(_result(index(item["image_id"]), int(item["category_id"]), x, y, w, h, item["score"]))
            continue
        det = _as_detections(item)
        image_id = index(det.image)
        for (x0, y0, x1, y1), score, cls in zip(det.boxes, det.scores, det.class_ids):
            if not 0 <= cls < len(cat_ids):
                raise InputFileError("predictions", f"class index {cls} is outside 0..{len(cat_ids) - 1}")
            out.append(_result(image_id, cat_ids[cls], x0, y0, x1 - x0, y1 - y0, score))
    return out


def _result(image_id: int, cat: int, x: float, y: float, w: float, h: float, score: Any) -> dict:
    w, h = max(float(w), 0.0), max(float(h), 0.0)
    bbox = [float(x), float(y), w, h]
    return {
        "image_id": image_id,
        "category_id": int(cat),
        "bbox": bbox,
        "score": float(score),
        "area": w * h,
        "iscrowd": 0,
    }


def category_order(gt: Mapping[str, Any]) -> List[int]:
    """COCO category ids in class-index order (sorted by id)."""
    return sorted(int(c["id"]) for c in gt["categories"])


def _mean(x: np.ndarray) -> Optional[float]:
    valid = x[x > -1]
    return float(valid.mean()) if valid.size else None


def evaluate(
    gt: Union[PathLike, Mapping[str, Any]],
    predictions: Predictions,
    *,
    class_names: Optional[Sequence[str]] = None,
    class_to_category: Optional[Sequence[int]] = None,
    max_dets: int = 100,
) -> EvalResult:
    """COCO box mAP of ``predictions`` against ``gt`` (see the module docstring for the formats).

    ``class_names`` renames the categories (in class-index order) in the per-class tables;
    ``max_dets`` is COCO's per-image detection limit (100 in the COCO protocol).
    """
    fce = require("faster_coco_eval", reason="mAP evaluation")
    if int(max_dets) < 1:
        raise ValueError(f"max_dets must be >= 1, got {max_dets}")
    data = load_gt(gt)
    cat_ids = list(class_to_category) if class_to_category is not None else category_order(data)
    unknown = sorted(set(cat_ids) - {int(c["id"]) for c in data["categories"]})
    if unknown:
        raise ValueError(f"class_to_category names category ids {unknown} that the ground truth lacks")
    if not any(not a.get("iscrowd", 0) for a in data["annotations"]):
        raise InputFileError(_name(gt), "the ground truth has no (non-crowd) annotations to evaluate against")
    by_id = {int(c["id"]): str(c["name"]) for c in data["categories"]}
    if class_names is not None and len(class_names) != len(cat_ids):
        raise ValueError(f"{len(class_names)} class names for {len(cat_ids)} categories")
    names = list(class_names) if class_names is not None else [by_id[c] for c in cat_ids]
    results = coco_results(predictions, data, cat_ids)
    ev = _accumulated(fce, data, results, cat_ids, int(max_dets))
    return _eval_result(ev, data, results, cat_ids, names, int(max_dets))


def _accumulated(
    fce: Any, data: Dict[str, Any], results: List[Dict[str, Any]], cat_ids: List[int], max_dets: int
) -> Any:
    """faster-coco-eval's evaluator, evaluated and accumulated over ``cat_ids``."""
    quiet = lambda *args, **kwargs: None  # noqa: E731 - faster-coco-eval logs every step otherwise
    coco_gt = fce.COCO(data, print_function=quiet)
    coco_dt = fce.COCO(print_function=quiet)
    dt_anns = [dict(r, id=i + 1) for i, r in enumerate(results)]  # id 0 means "unmatched" in the matcher
    coco_dt.dataset = {"images": data["images"], "categories": data["categories"], "annotations": dt_anns}
    coco_dt.createIndex()
    ev = fce.COCOeval_faster(coco_gt, coco_dt, "bbox", print_function=quiet)
    ev.params.catIds = sorted(cat_ids)
    ev.params.maxDets = sorted({1, 10, max_dets})
    ev.evaluate()
    ev.accumulate()
    return ev


def _eval_result(
    ev: Any,
    data: Dict[str, Any],
    results: List[Dict[str, Any]],
    cat_ids: List[int],
    names: List[str],
    max_dets: int,
) -> EvalResult:
    """The ``EvalResult`` read out of an accumulated evaluator."""
    m = ev.params.maxDets.index(max_dets)
    precision = np.asarray(ev.eval["precision"])[..., m]  # (IoU thresholds, recall points, classes, areas)
    recall = np.asarray(ev.eval["recall"])[..., m]  # (IoU thresholds, classes, areas)
    thresholds = np.asarray(ev.params.iouThrs)
    i50, i75 = int(np.argmin(np.abs(thresholds - 0.5))), int(np.argmin(np.abs(thresholds - 0.75)))
    area = {label: i for i, label in enumerate(ev.params.areaRngLbl)}
    column = {c: k for k, c in enumerate(ev.params.catIds)}
    all_p = precision[..., area["all"]]
    gt_count = {c: 0 for c in cat_ids}
    for ann in data["annotations"]:
        if not ann.get("iscrowd", 0) and int(ann["category_id"]) in gt_count:
            gt_count[int(ann["category_id"])] += 1
    # the means run over the classes with ground truth (COCO's -1 marks the others); the totals
    # are only undefined when the evaluated categories have no ground truth at all: then 0
    return EvalResult(
        map50_95=_mean(all_p) or 0.0,
        map50=_mean(all_p[i50]) or 0.0,
        map75=_mean(all_p[i75]) or 0.0,
        ap_small=_mean(precision[..., area["small"]]),
        ap_medium=_mean(precision[..., area["medium"]]),
        ap_large=_mean(precision[..., area["large"]]),
        ar100=_mean(recall[:, :, area["all"]]) or 0.0,
        per_class_ap={n: _mean(all_p[:, :, column[c]]) for n, c in zip(names, cat_ids)},
        per_class_ap50={n: _mean(all_p[i50, :, column[c]]) for n, c in zip(names, cat_ids)},
        per_class_gt={n: gt_count[c] for n, c in zip(names, cat_ids)},
        n_images=len(data["images"]),
        n_detections=len(results),
        n_gt=sum(gt_count.values()),
        max_dets=max_dets,
        recall50=_mean(recall[i50, :, area["all"]]) or 0.0,
        recall50_small=_mean(recall[i50, :, area["small"]]),
        recall50_medium=_mean(recall[i50, :, area["medium"]]),
        recall50_large=_mean(recall[i50, :, area["large"]]),
    )
