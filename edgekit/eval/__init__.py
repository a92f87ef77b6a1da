"""Accuracy evaluation: COCO box mAP through faster-coco-eval (``pip install "edgekit-detect[eval]"``).

``evaluate`` is the one implementation every accuracy figure in edgekit comes from.
Importing this package does not import faster-coco-eval.
"""

from edgekit.eval.coco import ImageDetections, coco_results, evaluate, load_gt
from edgekit.eval.result import EvalResult
from edgekit.eval.yolo import coco_from_data_yaml, image_size, labels_dir_for, yolo_to_coco

__all__ = [
    "EvalResult",
    "ImageDetections",
    "coco_from_data_yaml",
    "coco_results",
    "evaluate",
    "image_size",
    "labels_dir_for",
    "load_gt",
    "yolo_to_coco",
]
