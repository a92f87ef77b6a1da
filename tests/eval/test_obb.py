"""Oriented-box mAP: exact rotated polygon IoU and COCO's protocol run by edgekit itself."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgekit.eval import ImageDetections, evaluate
from edgekit.eval.obb import polygon_iou, rotated_iou
from tests.conftest import need

QUARTER = math.pi / 4


def test_identical_rectangles_overlap_fully() -> None:
    box = np.array([[10.0, 20.0, 30.0, 8.0, 0.3]])
    assert rotated_iou(box, box)[0, 0] == pytest.approx(1.0, abs=1e-12)
    turned = np.array([[10.0, 20.0, 8.0, 30.0, 0.3 + math.pi / 2]])  # the same box, w and h swapped
    assert rotated_iou(box, turned)[0, 0] == pytest.approx(1.0, abs=1e-12)


def test_square_and_the_square_turned_45_degrees_meet_in_an_octagon() -> None:
    s = 2.0
    octagon = s * s * (2 * math.sqrt(2) - 2)  # the square less four corner triangles of (s / sqrt2 - s / 2)^2
    iou = rotated_iou([[0, 0, s, s, 0]], [[0, 0, s, s, QUARTER]])[0, 0]
    assert iou == pytest.approx(octagon / (2 * s * s - octagon), abs=1e-12)
    assert iou == pytest.approx(1 / math.sqrt(2), abs=1e-12)


@pytest.mark.parametrize(
    ("other", "expected"),
    [
        ([[5, 0, 15, 10]], 50 / 150),  # half overlap, axis-aligned, as a corner list
        ([[20, 20, 30, 30]], 0.0),  # apart
        ([[2, 2, 4, 4]], 4 / 100),  # inside
        ([[10, 0, 20, 10]], 0.0),  # touching along an edge
    ],
)
def test_axis_aligned_cases(other: list, expected: float) -> None:
    def poly(x0: float, y0: float, x1: float, y1: float) -> list:
        return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]

    a = np.array([poly(0, 0, 10, 10)], float)
    b = np.array([poly(*other[0])], float)[:, ::-1]  # clockwise: either order is fine
    assert polygon_iou(a, b)[0, 0] == pytest.approx(expected, abs=1e-12)


def test_rotated_iou_matches_opencv_on_random_boxes() -> None:
    cv2 = need("cv2")
    rng = np.random.default_rng(0)
    a = np.c_[rng.uniform(0, 10, (40, 2)), rng.uniform(1, 5, (40, 2)), rng.uniform(-3, 3, 40)]
    b = np.c_[rng.uniform(0, 10, (30, 2)), rng.uniform(1, 5, (30, 2)), rng.uniform(-3, 3, 30)]
    ours = rotated_iou(a, b)
    ref = np.zeros_like(ours)
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            rect = lambda r: ((r[0], r[1]), (r[2], r[3]), math.degrees(r[4]))  # noqa: E731
            _, pts = cv2.rotatedRectangleIntersection(rect(p), rect(q))
            inter = cv2.contourArea(cv2.convexHull(pts)) if pts is not None and len(pts) > 2 else 0.0
            ref[i, j] = inter / (p[2] * p[3] + q[2] * q[3] - inter)
    assert (ours > 0).sum() > 100
    np.testing.assert_allclose(ours, ref, atol=1e-5)  # OpenCV works in float32


def obb_truth(boxes: list, classes: list) -> dict:
    anns = [
        {
            "id": i + 1,
            "image_id": 1,
            "category_id": c + 1,
            "bbox": [b[0] - b[2] / 2, b[1] - b[3] / 2, b[2], b[3]],  # not used by OBB scoring
            "area": b[2] * b[3],
            "iscrowd": 0,
            "xywhr": list(b),
        }
        for i, (b, c) in enumerate(zip(boxes, classes))
    ]
    return {
        "images": [{"id": 1, "file_name": "a.png", "width": 400, "height": 400}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "square"}, {"id": 2, "name": "bar"}],
    }


SQUARE, BAR = [100.0, 100.0, 60.0, 60.0, 0.2], [300.0, 300.0, 120.0, 30.0, 0.2]


def predict(boxes: list, classes: list, turn: float = 0.0) -> list:
    xywhr = np.array(boxes, float)
    xywhr[:, 4] += turn
    return [
        ImageDetections(1, np.zeros((len(boxes), 4)), np.linspace(0.9, 0.5, len(boxes)), classes, xywhr=xywhr)
    ]


def test_perfect_rotated_boxes_score_one() -> None:
    result = evaluate(obb_truth([SQUARE, BAR], [0, 1]), predict([SQUARE, BAR], [0, 1]), iou_type="obb")
    assert (result.map50_95, result.map50, result.iou_type) == (pytest.approx(1.0), pytest.approx(1.0), "obb")
    assert result.headline == ("OBB mAP50", pytest.approx(1.0))


def test_a_45_degree_turn_costs_a_square_less_than_a_bar() -> None:
    result = evaluate(
        obb_truth([SQUARE, BAR], [0, 1]), predict([SQUARE, BAR], [0, 1], QUARTER), iou_type="obb"
    )
    # the square keeps IoU 1/sqrt2 = 0.707: found at the thresholds 0.50 .. 0.70 (5 of 10)
    assert result.per_class_ap["square"] == pytest.approx(0.5)
    assert result.per_class_ap50["square"] == pytest.approx(1.0)
    bar_iou = rotated_iou([BAR], [[*BAR[:4], BAR[4] + QUARTER]])[0, 0]
    assert bar_iou < 0.5 and result.per_class_ap["bar"] == pytest.approx(0.0)
    assert result.map50 == pytest.approx(0.5)


def test_obb_protocol_equals_faster_coco_eval_on_unrotated_boxes() -> None:
    """At angle 0 the rotated IoU is the box IoU: edgekit's matcher and accumulation must give
    faster-coco-eval's box figures to the last digit, per class, with max_dets cutting in."""
    need("faster_coco_eval")
    rng = np.random.default_rng(1)
    images = [{"id": i + 1, "file_name": f"{i}.png", "width": 200, "height": 200} for i in range(8)]
    anns, preds = [], []
    for img in images:
        boxes, classes = [], []
        for _ in range(rng.integers(1, 6)):
            x, y, w, h, c = *rng.uniform(0, 150, 2), *rng.uniform(5, 50, 2), int(rng.integers(0, 3))
            ann = {"id": len(anns) + 1, "image_id": img["id"], "category_id": c + 1, "bbox": [x, y, w, h]}
            anns.append(dict(ann, area=w * h, iscrowd=0, xywhr=[x + w / 2, y + h / 2, w, h, 0.0]))
            for _ in range(3):  # noisy copies, some of the wrong class
                dx, dy, dw, dh = rng.normal(0, 3, 4)
                boxes.append([x + dx, y + dy, x + dx + abs(w + dw), y + dy + abs(h + dh)])
                classes.append(c if rng.random() > 0.2 else int(rng.integers(0, 3)))
        b = np.array(boxes)
        xywhr = np.c_[(b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2], np.zeros(len(b))]
        preds.append(ImageDetections(img["id"], b, rng.random(len(b)), classes, xywhr=xywhr))
    gt = {"images": images, "annotations": anns, "categories": [{"id": i, "name": str(i)} for i in (1, 2, 3)]}
    for max_dets in (100, 2):
        box = evaluate(gt, preds, max_dets=max_dets)
        obb = evaluate(gt, preds, iou_type="obb", max_dets=max_dets)
        assert 0.1 < box.map50_95 < 0.9
        for key in ("map50_95", "map50", "map75", "ar100", "recall50"):
            assert getattr(obb, key) == pytest.approx(getattr(box, key), abs=1e-12), key
        assert obb.per_class_ap == pytest.approx(box.per_class_ap, abs=1e-12)
        assert obb.per_class_gt == box.per_class_gt and obb.n_detections == box.n_detections


def test_probiou_matching_reads_higher_than_polygon_iou_as_ultralytics_val_does() -> None:
    """A bar turned by 0.4 rad keeps a polygon IoU of 0.447 (missed at 0.50) but a probiou of 0.561:
    matched by probiou (``--protocol ultralytics``) it counts at the thresholds 0.50 and 0.55."""
    from edgekit.decoding.rotated import probiou

    turned = [[*BAR[:4], BAR[4] + 0.4]]
    polygon, prob = rotated_iou([BAR], turned)[0, 0], float(probiou(np.array([BAR]), np.array(turned))[0, 0])
    assert polygon < 0.5 < 0.55 < prob < 0.6
    gt, preds = obb_truth([BAR], [1]), predict([BAR], [1], 0.4)
    by_polygon = evaluate(gt, preds, iou_type="obb")
    by_probiou = evaluate(gt, preds, iou_type="obb", obb_overlap="probiou")
    assert by_polygon.per_class_ap["bar"] == 0.0
    assert by_probiou.per_class_ap["bar"] == pytest.approx(0.2)  # 2 of the 10 thresholds
    with pytest.raises(ValueError, match="overlap"):
        evaluate(gt, preds, iou_type="obb", obb_overlap="hull")
