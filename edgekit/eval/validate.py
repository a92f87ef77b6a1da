"""``validate``: run a bundle over a labelled set and score it with the one evaluation module."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from edgekit.errors import InputFileError
from edgekit.eval.coco import coco_results, evaluate, load_gt
from edgekit.eval.result import EvalResult
from edgekit.eval.yolo import labels_dir_for, split_images, yolo_to_coco

PathLike = Union[str, Path]
# COCO-style scoring: every detection down to 0.001 counts toward the precision-recall curve
EVAL_CONF, EVAL_IOU, EVAL_MAX_DET = 0.001, 0.6, 300


def load_labelled_set(
    data: PathLike, split: str = "val", images: Optional[PathLike] = None
) -> Tuple[dict, Path]:
    """Ground truth (COCO dict) and the image folder, from a ``data.yaml`` or a COCO json + ``images``."""
    data = Path(data)
    if not data.exists():
        raise InputFileError(data, "no such dataset file")
    if data.suffix.lower() in (".yaml", ".yml"):
        folder, names = split_images(data, split)
        return yolo_to_coco(folder, labels_dir_for(folder), names), folder
    if data.suffix.lower() == ".json":
        folder = Path(images) if images else data.parent.parent / "images" / split
        if not folder.is_dir():
            raise InputFileError(folder, "image folder of the COCO json not found (pass --images)")
        return load_gt(data), folder
    raise InputFileError(data, "expected a YOLO data.yaml or a COCO json")


def validate(
    bundle: Any,
    data: PathLike,
    split: str = "val",
    images: Optional[PathLike] = None,
    backend: Optional[str] = None,
    threads: Optional[int] = None,
    save_json: Optional[PathLike] = None,
) -> Tuple[EvalResult, Dict[str, Any]]:
    """mAP of ``bundle`` on ``data``; returns the result and run facts (images, ms per image)."""
    from edgekit.decoding.images import load_image
    from edgekit.detector import Detector

    gt, folder = load_labelled_set(data, split, images)
    det = bundle if isinstance(bundle, Detector) else Detector(bundle, backend=backend, threads=threads)
    preds: List[Dict[str, Any]] = []
    started = time.perf_counter()
    for img in gt["images"]:
        r = det(load_image(folder / img["file_name"]), conf=EVAL_CONF, iou=EVAL_IOU, max_det=EVAL_MAX_DET)
        preds.append(
            {"image_id": img["id"], "boxes": r.xyxy, "scores": r.confidence, "class_ids": r.class_id}
        )
    seconds = time.perf_counter() - started
    result = evaluate(gt, preds)
    if save_json:
        Path(save_json).write_text(json.dumps(coco_results(preds, gt)))
    facts = {
        "images": len(gt["images"]),
        "backend": det.backend,
        "ms_per_image": 1e3 * seconds / max(len(gt["images"]), 1),
        "conf": EVAL_CONF,
        "iou": EVAL_IOU,
    }
    return result, facts
