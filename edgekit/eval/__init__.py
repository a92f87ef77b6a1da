"""Accuracy evaluation (``pip install "edgekit-detect[eval]"``): COCO box, mask and keypoint mAP
through faster-coco-eval, oriented-box mAP by rotated polygon IoU.

``evaluate`` is the one implementation every accuracy figure in edgekit comes from.
Importing this package does not import faster-coco-eval.
"""

from edgekit.eval.coco import ImageDetections, coco_results, evaluate, evaluate_task, keypoint_sigmas, load_gt
from edgekit.eval.result import EvalResult
from edgekit.eval.yolo import coco_from_data_yaml, image_size, labels_dir_for, yolo_to_coco

__all__ = [
    "EvalResult",
    "ImageDetections",
    "coco_from_data_yaml",
    "coco_results",
    "evaluate",
    "evaluate_task",
    "image_size",
    "keypoint_sigmas",
    "labels_dir_for",
    "load_gt",
    "yolo_to_coco",
]
