"""COCO mAP through faster-coco-eval, on hand-made boxes whose AP follows from the protocol.

COCO AP at one IoU threshold is the mean, over 101 recall points r = 0, 0.01, ..., 1, of the
best precision reached at recall >= r; AP50-95 averages that over the ten thresholds 0.50..0.95.
"""

from __future__ import annotations

import json
from typing import Dict, List, Sequence, Tuple

import numpy as np
import pytest

from edgekit.errors import InputFileError
from edgekit.eval import EvalResult, ImageDetections, coco_results, evaluate

pytest.importorskip("faster_coco_eval")

THRESHOLDS = np.linspace(0.5, 0.95, 10)
Box = Tuple[float, float, float, float]  # x0, y0, x1, y1


def points_up_to(recall: float) -> int:
    """How many of the 101 COCO recall points are <= ``recall``."""
    return int(np.floor(recall * 100 + 1e-9)) + 1


def iou(a: Box, b: Box) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def make_gt(
    objects: Dict[int, List[Tuple[int, Box]]], n_images: int = 0, cat_ids: Sequence[int] = (1, 2, 3)
) -> dict:
    """COCO gt: ``objects`` maps image id -> [(category id, xyxy box)]; 640x640 images."""
    ids = sorted(set(objects) | set(range(1, n_images + 1)))
    images = [{"id": i, "file_name": f"dir/img{i}.jpg", "width": 640, "height": 640} for i in ids]
    anns = []
    for image_id, objs in objects.items():
        for cat, (x0, y0, x1, y1) in objs:
            w, h = x1 - x0, y1 - y0
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": image_id,
                    "category_id": cat,
                    "bbox": [x0, y0, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    cats = [{"id": c, "name": f"cls{c}"} for c in cat_ids]
    return {"images": images, "annotations": anns, "categories": cats}


def dets(image, boxes: List[Box], scores: List[float], classes: List[int]) -> ImageDetections:
    return ImageDetections(image, np.array(boxes, float).reshape(-1, 4), np.array(scores), np.array(classes))


BIG: Box = (100, 100, 200, 200)
BIG_064: Box = (100, 100, 200, 164)  # inside BIG, 64 % of its area: IoU 0.64


def test_iou_of_the_cut_box_sits_between_thresholds() -> None:
    assert iou(BIG, BIG_064) == pytest.approx(0.64)
    assert int(np.sum(THRESHOLDS <= 0.64)) == 3  # matched at 0.50, 0.55, 0.60 only


def test_perfect_predictions_score_one() -> None:
    gt = make_gt({1: [(1, BIG), (2, (10, 10, 40, 30))], 2: [(3, (300, 300, 620, 500))]})
    preds = [
        dets(1, [BIG, (10, 10, 40, 30)], [1.0, 1.0], [0, 1]),
        dets(2, [(300, 300, 620, 500)], [1.0], [2]),
    ]
    r = evaluate(gt, preds)
    assert (r.map50_95, r.map50, r.map75, r.ar100) == (1.0, 1.0, 1.0, 1.0)
    assert r.per_class_ap == {"cls1": 1.0, "cls2": 1.0, "cls3": 1.0}
    assert (r.n_images, r.n_detections, r.n_gt) == (2, 3, 3)


def test_iou_064_counts_at_three_of_ten_thresholds() -> None:
    r = evaluate(make_gt({1: [(1, BIG)]}), [dets(1, [BIG_064], [0.9], [0])])
    assert r.map50_95 == pytest.approx(3 / 10)
    assert r.map50 == 1.0
    assert r.map75 == 0.0


@pytest.mark.parametrize("good_first", [True, False])
def test_ranking_decides_the_interpolated_precision(good_first: bool) -> None:
    gt = make_gt({1: [(1, BIG), (1, (300, 300, 400, 400))]})
    scores = [0.9, 0.8] if good_first else [0.8, 0.9]
    r = evaluate(gt, [dets(1, [(300, 300, 400, 400), BIG_064], scores, [0, 0])])
    # IoU <= 0.60: both match -> AP 1. Above: one of two objects found at rank 1 (precision 1)
    # or at rank 2 (precision 1/2), i.e. the recall points up to 0.5 at that precision.
    strict = (1.0 if good_first else 0.5) * points_up_to(0.5) / 101
    assert r.map50_95 == pytest.approx((3 * 1.0 + 7 * strict) / 10)
    assert r.map50 == 1.0


def test_wrong_class_is_zero_for_that_class() -> None:
    gt = make_gt({1: [(1, BIG), (2, (300, 300, 400, 400))]})
    r = evaluate(gt, [dets(1, [BIG, (300, 300, 400, 400)], [0.9, 0.9], [0, 2])])
    assert r.per_class_ap == {"cls1": 1.0, "cls2": 0.0, "cls3": None}  # cls3 has no ground truth
    assert r.per_class_ap50["cls2"] == 0.0
    assert r.map50_95 == pytest.approx(0.5)  # mean over the classes with ground truth


def test_empty_predictions_score_zero() -> None:
    r = evaluate(make_gt({1: [(1, BIG)], 2: [(2, BIG)]}), [])
    assert (r.map50_95, r.map50, r.ar100, r.n_detections) == (0.0, 0.0, 0.0, 0)
    assert r.per_class_ap == {"cls1": 0.0, "cls2": 0.0, "cls3": None}


def test_false_positive_on_an_image_without_objects_lowers_precision() -> None:
    gt = make_gt({1: [(1, BIG)]}, n_images=2)  # image 2 has no objects
    r = evaluate(gt, [dets(1, [BIG], [0.5], [0]), dets(2, [BIG], [0.9], [0])])
    assert r.n_images == 2
    assert r.map50_95 == pytest.approx(0.5)  # the only recall level, 1.0, is reached at precision 1/2


def test_size_buckets_follow_the_ground_truth_area() -> None:
    small, medium, large = (10, 10, 30, 30), (100, 100, 150, 150), (300, 300, 450, 450)
    large_cut = (300, 300, 450, 396)  # IoU 0.64 with ``large``
    assert (20 * 20 < 32**2, 32**2 <= 50 * 50 < 96**2, 150 * 150 >= 96**2) == (True, True, True)
    gt = make_gt({1: [(1, small), (1, medium), (1, large)]})
    r = evaluate(gt, [dets(1, [small, large_cut], [0.9, 0.8], [0, 0])])  # the medium object is missed
    assert r.ap_small == 1.0
    assert r.ap_medium == 0.0
    assert r.ap_large == pytest.approx(0.3)
    # all sizes: recall 2/3 at precision 1 up to IoU 0.60, then 1/3 at precision 1
    expected = (3 * points_up_to(2 / 3) + 7 * points_up_to(1 / 3)) / 101 / 10
    assert r.map50_95 == pytest.approx(expected)


def test_recall_at_iou_half_by_size_counts_one_to_one_matches() -> None:
    small, small2, medium, large = (
        (10, 10, 30, 30),
        (50, 10, 70, 30),
        (100, 100, 150, 150),
        (300, 300, 450, 450),
    )
    gt = make_gt({1: [(1, small), (1, small2), (1, medium), (1, large)], 2: [(2, large)]})
    preds = [
        # small found; small2 missed (its only box overlaps ``small`` instead, and that box is
        # taken by ``small``: one detection matches one object); medium found at IoU 0.64;
        # large found, plus a duplicate that matches nothing
        dets(
            1,
            [small, (12, 10, 32, 30), (100, 100, 150, 132), large, large],
            [0.9, 0.8, 0.7, 0.6, 0.5],
            [0] * 5,
        ),
        dets(2, [large], [0.9], [1]),  # the class-2 object is found too
    ]
    r = evaluate(gt, preds)
    assert r.recall50_small == pytest.approx(0.5)  # class 1 only: 1 of 2 (class 2 has no small)
    assert r.recall50_medium == 1.0
    assert r.recall50_large == 1.0  # classes 1 and 2 each find their large object
    assert r.recall50 == pytest.approx((3 / 4 + 1.0) / 2)  # the class mean, as COCO's recall
    assert r.ar100 < r.recall50  # the IoU 0.64 match only counts up to IoU 0.60
    strict = evaluate(gt, [dets(1, [small], [0.9], [0])])  # the other objects missed
    assert (strict.recall50, strict.recall50_small, strict.recall50_large) == (pytest.approx(1 / 8), 0.5, 0.0)


def test_empty_size_bucket_is_none() -> None:
    medium = (100, 100, 150, 150)
    r = evaluate(make_gt({1: [(1, medium)]}), [dets(1, [medium], [1.0], [0])])
    assert r.ap_medium == 1.0
    assert r.ap_small is None and r.ap_large is None
    assert "AP small" in r.format_table() and "       -" in r.format_table()


def test_class_indices_map_to_sorted_sparse_category_ids() -> None:
    gt = make_gt({1: [(7, BIG), (90, (300, 300, 400, 400))]}, cat_ids=(90, 7, 3))
    preds = [dets(1, [BIG, (300, 300, 400, 400)], [1.0, 1.0], [1, 2])]  # sorted ids: 3, 7, 90
    assert evaluate(gt, preds).map50_95 == 1.0
    swapped = evaluate(gt, preds, class_to_category=[3, 90, 7])
    assert swapped.map50_95 == 0.0
    named = evaluate(gt, preds, class_names=["a", "b", "c"])
    assert list(named.per_class_ap) == ["a", "b", "c"] and named.per_class_gt == {"a": 0, "b": 1, "c": 1}


def test_images_by_file_name_base_name_or_stem() -> None:
    gt = make_gt({1: [(1, BIG)], 2: [(1, (300, 300, 400, 400))]})
    preds = [
        {"file_name": "dir/img1.jpg", "boxes": [BIG], "scores": [1.0], "class_ids": [0]},
        {"image": "img2", "boxes": [(300, 300, 400, 400)], "scores": [1.0], "class_ids": [0]},
    ]
    assert evaluate(gt, preds).map50_95 == 1.0
    with pytest.raises(InputFileError, match="not in the ground truth"):
        evaluate(gt, [{"image": "img3.jpg", "boxes": [BIG], "scores": [1.0], "class_ids": [0]}])


def test_coco_results_file_equals_per_image_detections(tmp_path) -> None:
    gt = make_gt({1: [(1, BIG), (2, (300, 300, 400, 400))], 2: [(3, (20, 20, 90, 60))]})
    preds = [
        dets(1, [BIG_064, (300, 290, 400, 400), BIG], [0.8, 0.7, 0.3], [0, 1, 2]),
        dets(2, [(25, 20, 90, 60)], [0.6], [2]),
    ]
    results = coco_results(preds, gt)
    assert results[0]["bbox"] == [100.0, 100.0, 100.0, 64.0] and results[0]["category_id"] == 1
    gt_file, res_file = tmp_path / "gt.json", tmp_path / "res.json"
    gt_file.write_text(json.dumps(gt))
    res_file.write_text(
        json.dumps([{k: r[k] for k in ("image_id", "category_id", "bbox", "score")} for r in results])
    )
    a, b = evaluate(gt, preds), evaluate(gt_file, res_file)
    assert a == b
    assert 0.0 < a.map50_95 < 1.0


def test_max_dets_keeps_the_best_scored_detections_per_image() -> None:
    gt = make_gt({1: [(1, BIG), (1, (300, 300, 400, 400))]})
    preds = [dets(1, [BIG, (300, 300, 400, 400)], [0.9, 0.8], [0, 0])]
    assert evaluate(gt, preds).map50_95 == 1.0
    one = evaluate(gt, preds, max_dets=1)  # only the first object can be found
    assert one.map50_95 == pytest.approx(points_up_to(0.5) / 101)
    assert one.ar100 == pytest.approx(0.5) and one.max_dets == 1


def test_ground_truth_is_not_modified() -> None:
    gt = make_gt({1: [(1, BIG)]})
    before = json.dumps(gt, sort_keys=True)
    evaluate(gt, [dets(1, [BIG], [1.0], [0])])
    assert json.dumps(gt, sort_keys=True) == before


def test_bad_inputs_are_user_errors(tmp_path) -> None:
    with pytest.raises(InputFileError, match=r"no .*annotations"):
        evaluate(make_gt({}, n_images=1), [])
    with pytest.raises(InputFileError, match="class index 3"):
        evaluate(make_gt({1: [(1, BIG)]}), [dets(1, [BIG], [1.0], [3])])
    with pytest.raises(InputFileError, match="not a readable COCO json"):
        evaluate(tmp_path / "missing.json", [])
    with pytest.raises(ValueError, match="differ"):
        ImageDetections(1, np.zeros((2, 4)), np.zeros(1), np.zeros(2))


def test_result_serialises_and_prints_every_class() -> None:
    gt = make_gt({1: [(1, BIG), (2, (300, 300, 400, 400))]})
    r = evaluate(gt, [dets(1, [BIG, (300, 300, 400, 400)], [0.9, 0.4], [0, 1])])
    d = json.loads(json.dumps(r.to_dict()))
    assert d["map50_95"] == r.map50_95 and d["per_class_ap"]["cls3"] is None
    table = r.format_table()
    for name in ("cls1", "cls2", "cls3", "mAP50-95", "AP large", "recall@.5"):
        assert name in table
    with pytest.raises(ValueError, match="not a fraction"):
        EvalResult(**dict(d, map50=1.5))
