"""The one evaluation module: COCO mAP (boxes, masks, keypoints) with faster-coco-eval.

Every mAP figure in edgekit (fixture cards, INT8 reports, ``edgekit val``, benchmarks)
comes from ``evaluate``: box mAP (iou type "bbox"), mask mAP ("segm"), keypoint mAP ("keypoints",
OKS with per-keypoint sigmas) through faster-coco-eval, and oriented-box mAP ("obb", rotated
polygon IoU) through ``edgekit.eval.obb`` with the same protocol. Ground truth is a COCO dict or
json file (``segmentation`` polygons or RLE, ``keypoints``, or edgekit's ``xywhr`` for the other
tasks); predictions are either per-image detections (``ImageDetections``) or COCO results
(``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]`` plus the task's key, as a list
or a json file).

Class indices map to COCO category ids explicitly: index ``i`` is the ``i``-th category of
the ground truth sorted by id (so COCO's 80 classes with ids 1..90 map the usual way, and
1-based datasets are not off by one), unless ``class_to_category`` says otherwise.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from edgekit._optional import require
from edgekit.errors import InputFileError
from edgekit.eval.predictions import ImageDetections, Predictions, category_order, coco_results, read_results
from edgekit.eval.result import IOU_TYPES, TASK_IOU_TYPE, EvalResult

PathLike = Union[str, Path]
__all__ = [
    "ImageDetections",
    "category_order",
    "coco_results",
    "evaluate",
    "evaluate_task",
    "keypoint_sigmas",
    "load_gt",
]
#: COCO's per-keypoint OKS sigmas of its 17 person keypoints (``cocoeval.py``)
COCO_SIGMAS: Tuple[float, ...] = tuple(
    v / 10.0
    for v in (
        0.26,
        0.25,
        0.25,
        0.35,
        0.35,
        0.79,
        0.79,
        0.72,
        0.72,
        0.62,
        0.62,
        1.07,
        1.07,
        0.87,
        0.87,
        0.89,
        0.89,
    )
)


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


def _mean(x: np.ndarray) -> Optional[float]:
    valid = x[x > -1]
    return float(valid.mean()) if valid.size else None


def evaluate(
    gt: Union[PathLike, Mapping[str, Any]],
    predictions: Predictions,
    *,
    class_names: Optional[Sequence[str]] = None,
    class_to_category: Optional[Sequence[int]] = None,
    max_dets: Optional[int] = None,
    iou_type: str = "bbox",
    kpt_sigmas: Optional[Sequence[float]] = None,
    obb_overlap: str = "polygon",
) -> EvalResult:
    """COCO mAP of ``predictions`` against ``gt`` (see the module docstring for the formats).

    ``iou_type``: "bbox", "segm" (mask IoU), "keypoints" (OKS with ``kpt_sigmas``, default
    ``keypoint_sigmas(K)``) or "obb" (rotated boxes, ``edgekit.eval.obb``, matched by
    ``obb_overlap``: "polygon" IoU or Ultralytics' "probiou").
    ``class_names`` renames the categories (in class-index order) in the per-class tables;
    ``max_dets`` is COCO's per-image detection limit (default 100; 20 for keypoints as in COCO).
    """
    if iou_type not in IOU_TYPES:
        raise ValueError(f"unknown iou_type {iou_type!r}; choose one of {', '.join(IOU_TYPES)}")
    max_dets = int(max_dets if max_dets is not None else (20 if iou_type == "keypoints" else 100))
    if max_dets < 1:
        raise ValueError(f"max_dets must be >= 1, got {max_dets}")
    fce = None if iou_type == "obb" else require("faster_coco_eval", reason="mAP evaluation")
    data = load_gt(gt)
    cat_ids = list(class_to_category) if class_to_category is not None else category_order(data)
    unknown = sorted(set(cat_ids) - {int(c["id"]) for c in data["categories"]})
    if unknown:
        raise ValueError(f"class_to_category names category ids {unknown} that the ground truth lacks")
    if not any(not a.get("iscrowd", 0) for a in data["annotations"]):
        raise InputFileError(_name(gt), "the ground truth has no (non-crowd) annotations to evaluate against")
    field = {"segm": "segmentation", "keypoints": "keypoints", "obb": "xywhr"}.get(iou_type)
    if field and any(field not in a for a in data["annotations"] if not a.get("iscrowd", 0)):
        raise InputFileError(_name(gt), f"{iou_type} scoring needs '{field}' in every annotation")
    by_id = {int(c["id"]): str(c["name"]) for c in data["categories"]}
    if class_names is not None and len(class_names) != len(cat_ids):
        raise ValueError(f"{len(class_names)} class names for {len(cat_ids)} categories")
    names = list(class_names) if class_names is not None else [by_id[c] for c in cat_ids]
    results = coco_results(predictions, data, cat_ids, iou_type)
    if iou_type == "obb":
        from edgekit.eval.obb import evaluate_obb

        return evaluate_obb(data, results, cat_ids, names, max_dets, overlap=obb_overlap)
    sigmas = _sigmas(data, kpt_sigmas) if iou_type == "keypoints" else None
    ev = _accumulated(fce, data, results, cat_ids, max_dets, iou_type, sigmas)
    return _eval_result(ev, data, results, cat_ids, names, max_dets, iou_type, sigmas)


def evaluate_task(
    gt: Union[PathLike, Mapping[str, Any]],
    predictions: Predictions,
    task: str = "detect",
    **options: Any,
) -> EvalResult:
    """Box mAP of ``predictions``, and for ``task`` "segment" / "pose" / "obb" the task's own
    (mask, keypoint or oriented-box mAP) in ``task_result``; ``options`` as for ``evaluate``."""
    if task not in ("detect", *TASK_IOU_TYPE):
        raise ValueError(f"unknown task {task!r}; choose one of detect, {', '.join(TASK_IOU_TYPE)}")
    data = load_gt(gt)  # read once for both
    if isinstance(predictions, (str, Path)):
        predictions = read_results(predictions)
    box_options = {k: v for k, v in options.items() if k not in ("kpt_sigmas", "obb_overlap")}
    boxes = evaluate(data, predictions, **box_options)
    if task == "detect":
        return boxes
    own = evaluate(data, predictions, iou_type=TASK_IOU_TYPE[task], **options)
    return replace(boxes, task=task, task_result=own)


def keypoint_sigmas(k: int) -> Tuple[float, ...]:
    """The default OKS sigmas of ``k`` keypoints: COCO's for 17, else uniform ``1 / k``.

    As Ultralytics 8.4.190 validates pose (``models/yolo/pose/val.py``, ``init_metrics``:
    ``OKS_SIGMA if kpt_shape == [17, 3] else np.ones(nkpt) / nkpt``; ``OKS_SIGMA`` of
    ``utils/metrics.py`` is COCO's 17 sigmas).
    """
    if k < 1:
        raise ValueError(f"keypoint_sigmas needs at least one keypoint, got {k}")
    return COCO_SIGMAS if k == 17 else tuple([1.0 / k] * k)


def _sigmas(data: Mapping[str, Any], given: Optional[Sequence[float]]) -> Tuple[float, ...]:
    sizes = {len(a["keypoints"]) for a in data["annotations"] if "keypoints" in a}
    if len(sizes) != 1 or next(iter(sizes)) % 3:
        raise InputFileError("ground truth", f"keypoints of {sorted(sizes)} values (need one K x 3 for all)")
    k = next(iter(sizes)) // 3
    given = given if given is not None else data.get("kpt_oks_sigmas")  # the dataset's own, if any
    sigmas = tuple(float(s) for s in given) if given is not None else keypoint_sigmas(k)
    if len(sigmas) != k or min(sigmas) <= 0:
        raise ValueError(f"kpt_sigmas must be {k} positive values, got {list(sigmas)}")
    return sigmas


def _accumulated(
    fce: Any,
    data: Dict[str, Any],
    results: List[Dict[str, Any]],
    cat_ids: List[int],
    max_dets: int,
    iou_type: str = "bbox",
    sigmas: Optional[Sequence[float]] = None,
) -> Any:
    """faster-coco-eval's evaluator, evaluated and accumulated over ``cat_ids``."""
    quiet = lambda *args, **kwargs: None  # noqa: E731 - faster-coco-eval logs every step otherwise
    coco_gt = fce.COCO(data, print_function=quiet)
    coco_dt = fce.COCO(print_function=quiet)
    dt_anns = [dict(r, id=i + 1) for i, r in enumerate(results)]  # id 0 means "unmatched" in the matcher
    coco_dt.dataset = {"images": data["images"], "categories": data["categories"], "annotations": dt_anns}
    coco_dt.createIndex()
    extra = {"kpt_oks_sigmas": list(sigmas)} if sigmas is not None else {}
    ev = fce.COCOeval_faster(coco_gt, coco_dt, iou_type, print_function=quiet, **extra)
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
    iou_type: str = "bbox",
    sigmas: Optional[Sequence[float]] = None,
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

    def bucket(values: np.ndarray, label: str) -> Optional[float]:  # keypoints have no "small"
        return _mean(values[..., area[label]]) if label in area else None

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
        ap_small=bucket(precision, "small"),
        ap_medium=bucket(precision, "medium"),
        ap_large=bucket(precision, "large"),
        ar100=_mean(recall[:, :, area["all"]]) or 0.0,
        per_class_ap={n: _mean(all_p[:, :, column[c]]) for n, c in zip(names, cat_ids)},
        per_class_ap50={n: _mean(all_p[i50, :, column[c]]) for n, c in zip(names, cat_ids)},
        per_class_gt={n: gt_count[c] for n, c in zip(names, cat_ids)},
        n_images=len(data["images"]),
        n_detections=len(results),
        n_gt=sum(gt_count.values()),
        max_dets=max_dets,
        recall50=_mean(recall[i50, :, area["all"]]) or 0.0,
        recall50_small=bucket(recall[i50], "small"),
        recall50_medium=bucket(recall[i50], "medium"),
        recall50_large=bucket(recall[i50], "large"),
        iou_type=iou_type,
        kpt_sigmas=None if sigmas is None else tuple(float(s) for s in sigmas),
    )
