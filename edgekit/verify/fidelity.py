"""Label-free accuracy of an INT8 model: its FP32 source's confident detections taken as the truth.

The INT8 agreement check pairs detections at IoU 0.5. A model whose boxes move within that IoU, or
whose scores re-rank its detections, passes it and still loses mAP50-95: naive exports of the
shapes fixtures (head quantized) lose 5-8 points at a 0.98 match rate. ``fidelity`` scores the
INT8 model the way mAP does, with COCO matching at IoU 0.50:0.95 ranked by score (the one
evaluation module, faster-coco-eval), against the FP32 model's detections above ``TRUTH_CONF`` on
the same images as the ground truth. No labels are needed; FP32 scored against itself gives 1.0.
It is class-agnostic (one category): classes are the IoU-0.5 matcher's business, which accepts a
class picked from a near-tie, and per-class AP on a few check images of an 80-class model would
rest on one or two boxes per class. The bound (``Bounds.min_fidelity``) is chosen from
measurements, written beside it.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from edgekit.verify.detections import Dets

TRUTH_CONF = 0.25  # the FP32 detections taken as truth: the decoders' default threshold
MIN_TRUTH = 20  # fewer truth boxes over the images (an untrained model): not measured


def pseudo_truth(references: Sequence[Dets], shape: Tuple[int, int]) -> dict:
    """A COCO ground-truth dict of the references' detections above ``TRUTH_CONF``, one image each
    of ``shape`` (height, width), every box of one category (class-agnostic)."""
    images, annotations = [], []
    for image_id, ref in enumerate(references, 1):
        images.append({"id": image_id, "file_name": f"{image_id}", "height": shape[0], "width": shape[1]})
        for box in ref.xyxy[ref.scores >= TRUTH_CONF]:
            x1, y1, x2, y2 = (float(v) for v in box)
            w, h = max(x2 - x1, 0.0), max(y2 - y1, 0.0)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "bbox": [x1, y1, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    return {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "object"}]}


def fidelity(pairs: Sequence[Tuple[Dets, Dets]], shape: Tuple[int, int]) -> Tuple[Optional[float], int]:
    """(mAP50-95 of each pair's candidate against its reference's confident detections, the number
    of truth boxes); the figure is None below ``MIN_TRUTH`` truth boxes. Both sides decoded as for
    validation (low threshold), in the same pixels."""
    from edgekit.eval.coco import ImageDetections, evaluate

    truth = pseudo_truth([ref for ref, _ in pairs], shape)
    boxes = len(truth["annotations"])
    if boxes < MIN_TRUTH:
        return None, boxes
    found = [
        ImageDetections(image_id, got.xyxy, got.scores, np.zeros(len(got), np.int64))
        for image_id, (_, got) in enumerate(pairs, 1)
    ]
    result = evaluate(truth, found)  # COCO's 100 detections per image, as every mAP here
    return float(np.round(result.map50_95, 4)), boxes
