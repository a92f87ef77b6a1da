"""Mask mAP (segm) and keypoint mAP (OKS) through faster-coco-eval, and the task's result."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from edgekit.decoding.encode import mask_to_rle
from edgekit.eval import EvalResult, ImageDetections, coco_results, evaluate, evaluate_task, keypoint_sigmas
from edgekit.eval.coco import COCO_SIGMAS
from tests.conftest import need

THRESHOLDS = np.linspace(0.5, 0.95, 10)


@pytest.fixture(autouse=True)
def _fce() -> None:
    need("faster_coco_eval")


def seg_truth() -> dict:
    """Two objects in a 64 x 96 image, as polygons."""
    polygons = [[10, 10, 40, 10, 40, 30, 10, 30], [50, 20, 90, 20, 70, 60]]
    anns = []
    for i, poly in enumerate(polygons):
        xs, ys = poly[0::2], poly[1::2]
        box = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
        anns.append({"id": i + 1, "image_id": 1, "category_id": i + 1, "bbox": box, "segmentation": [poly]})
    return {
        "images": [{"id": 1, "file_name": "a.png", "width": 96, "height": 64}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "box"}, {"id": 2, "name": "tri"}],
    }


def truth_masks(gt: dict) -> np.ndarray:
    fce = need("faster_coco_eval")
    coco = fce.COCO(gt, print_function=lambda *a, **k: None)
    return np.stack([coco.annToMask(a).astype(bool) for a in gt["annotations"]])


def seg_predictions(gt: dict, masks: np.ndarray) -> list:
    boxes = np.array([a["bbox"] for a in gt["annotations"]], float)
    boxes[:, 2:] += boxes[:, :2]
    return [ImageDetections(1, boxes, [0.9, 0.8], [0, 1], masks=masks)]


def test_perfect_masks_score_one() -> None:
    gt = seg_truth()
    result = evaluate(gt, seg_predictions(gt, truth_masks(gt)), iou_type="segm")
    assert (result.map50_95, result.iou_type, result.headline[0]) == (
        pytest.approx(1.0),
        "segm",
        "mask mAP50-95",
    )


def test_shifted_masks_lose_the_thresholds_above_their_iou() -> None:
    gt = seg_truth()
    masks = truth_masks(gt)
    shifted = np.roll(masks, 3, axis=2)  # 3 px right
    iou = (masks & shifted).sum((1, 2)) / (masks | shifted).sum((1, 2))
    result = evaluate(gt, seg_predictions(gt, shifted), iou_type="segm")
    expected = [float((v + 1e-9 >= THRESHOLDS).mean()) for v in iou]
    assert min(expected) > 0 and max(expected) < 1
    assert list(result.per_class_ap.values()) == pytest.approx(expected)
    boxes = evaluate(gt, seg_predictions(gt, shifted))  # the boxes did not move
    assert boxes.map50_95 == pytest.approx(1.0)


def test_mask_results_as_uncompressed_rle_json(tmp_path: Path) -> None:
    gt = seg_truth()
    masks = truth_masks(gt)
    rows = [
        {"image_id": 1, "category_id": i + 1, "bbox": a["bbox"], "score": 0.9, "segmentation": mask_to_rle(m)}
        for i, (a, m) in enumerate(zip(gt["annotations"], masks))
    ]
    (tmp_path / "r.json").write_text(json.dumps(rows))
    assert evaluate(gt, tmp_path / "r.json", iou_type="segm").map50_95 == pytest.approx(1.0)
    compressed = coco_results(seg_predictions(gt, masks), gt, iou_type="segm")
    assert (
        isinstance(compressed[0]["segmentation"]["counts"], str) and compressed[0]["area"] == masks[0].sum()
    )
    json.dumps(compressed)  # JSON-ready


def pose_truth(k: int, n: int = 3) -> dict:
    rng = np.random.default_rng(k)
    anns = []
    for i in range(n):
        x, y = 40.0 + 150 * i, 60.0
        pts = np.c_[rng.uniform(x, x + 100, k), rng.uniform(y, y + 120, k), np.full(k, 2.0)]
        pts[0, 2] = 0  # one unlabelled keypoint: ignored by OKS
        pts[0, :2] = 0
        anns.append(
            {
                "id": i + 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [x, y, 100.0, 120.0],
                "area": 0.53 * 100 * 120,
                "keypoints": pts.ravel().tolist(),
                "num_keypoints": k - 1,
            }
        )
    return {
        "images": [{"id": 1, "file_name": "a.png", "width": 640, "height": 320}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "thing"}],
    }


def pose_predictions(gt: dict, moved: float = 0.0) -> list:
    """The truth's keypoints, each moved by ``moved`` x its OKS scale (2 sigma sqrt(area))."""
    anns = gt["annotations"]
    k = len(anns[0]["keypoints"]) // 3
    sigmas = np.array(keypoint_sigmas(k))
    kpts = np.array([a["keypoints"] for a in anns], float).reshape(len(anns), k, 3)
    scale = 2 * sigmas[None, :] * np.sqrt([a["area"] for a in anns])[:, None]
    angle = np.random.default_rng(0).uniform(0, 2 * math.pi, kpts.shape[:2])
    kpts[..., 0] += moved * scale * np.cos(angle)
    kpts[..., 1] += moved * scale * np.sin(angle)
    boxes = np.array([a["bbox"] for a in anns], float)
    boxes[:, 2:] += boxes[:, :2]
    return [ImageDetections(1, boxes, np.linspace(0.9, 0.7, len(anns)), np.zeros(len(anns)), keypoints=kpts)]


@pytest.mark.parametrize("k", [17, 5])
def test_keypoint_map_and_sigmas(k: int) -> None:
    gt = pose_truth(k)
    perfect = evaluate(gt, pose_predictions(gt), iou_type="keypoints")
    assert perfect.map50_95 == pytest.approx(1.0) and perfect.iou_type == "keypoints"
    assert perfect.kpt_sigmas == (COCO_SIGMAS if k == 17 else (1 / k,) * k)
    assert perfect.ap_small is None and perfect.max_dets == 20  # COCO's keypoint protocol
    # moved by c scales each: OKS = exp(-c^2 / 2) = 0.72 for every object: thresholds 0.50 .. 0.70
    c = math.sqrt(-2 * math.log(0.72))
    moved = evaluate(gt, pose_predictions(gt, c), iou_type="keypoints")
    assert moved.map50_95 == pytest.approx(0.5) and moved.map50 == pytest.approx(1.0)


def test_custom_sigmas_are_used_and_checked() -> None:
    gt = pose_truth(5)
    c = math.sqrt(-2 * math.log(0.72))
    wider = evaluate(gt, pose_predictions(gt, c), iou_type="keypoints", kpt_sigmas=[0.4] * 5)  # 2x: OKS 0.92
    assert wider.kpt_sigmas == (0.4,) * 5 and wider.map50_95 == pytest.approx(0.9)
    assert evaluate(
        dict(gt, kpt_oks_sigmas=[0.4] * 5), pose_predictions(gt, c), iou_type="keypoints"
    ).map50_95 == (pytest.approx(0.9))
    with pytest.raises(ValueError, match="5 positive"):
        evaluate(gt, pose_predictions(gt), iou_type="keypoints", kpt_sigmas=[0.1] * 4)


def test_evaluate_task_carries_the_task_result() -> None:
    gt = pose_truth(5)
    c = math.sqrt(-2 * math.log(0.72))
    result = evaluate_task(gt, pose_predictions(gt, c), "pose")
    assert result.task == "pose" and result.iou_type == "bbox" and result.map50_95 == pytest.approx(1.0)
    assert result.task_result.map50_95 == pytest.approx(0.5)
    assert result.headline == ("pose mAP50-95", pytest.approx(0.5))
    table = result.format_table()
    assert "pose (keypoints)" in table and "box (bbox)" in table
    d = result.to_dict()
    assert d["task_result"]["iou_type"] == "keypoints" and len(d["task_result"]["kpt_sigmas"]) == 5
    json.dumps(d)
    assert evaluate_task(gt, pose_predictions(gt), "detect").task_result is None


def test_detection_results_keep_their_form() -> None:
    gt = seg_truth()
    result = evaluate(gt, seg_predictions(gt, truth_masks(gt)))
    assert (result.task, result.iou_type, result.task_result, result.kpt_sigmas) == (
        "detect",
        "bbox",
        None,
        None,
    )
    assert result.headline == ("box mAP50-95", pytest.approx(1.0))
    assert not result.format_table().startswith("box")  # the detection table is as before
    assert EvalResult(**result.to_dict()) == result


def test_task_fields_are_required_and_checked() -> None:
    gt = seg_truth()
    preds = seg_predictions(gt, truth_masks(gt))
    with pytest.raises(Exception, match="needs keypoints"):
        evaluate(pose_truth(5), [ImageDetections(1, np.zeros((1, 4)), [0.5], [0])], iou_type="keypoints")
    with pytest.raises(Exception, match="needs 'keypoints'"):
        evaluate(gt, preds, iou_type="keypoints")  # the truth has none
    with pytest.raises(ValueError, match="masks of shape"):
        ImageDetections(1, np.zeros((2, 4)), [0.5, 0.5], [0, 0], masks=np.zeros((3, 8, 8), bool))
    with pytest.raises(ValueError, match="unknown iou_type"):
        evaluate(gt, preds, iou_type="mask")
    box = evaluate(gt, preds)
    with pytest.raises(ValueError, match="task_result"):
        EvalResult(**dict(box.to_dict(), task="segment"))
