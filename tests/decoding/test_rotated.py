"""Oriented boxes on the host against the peer's own functions (reference values written by
ultralytics 8.4.190, see the file's ``source``): probabilistic IoU, rotated NMS, corners."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from edgekit.decoding.rotated import corners, enclosing_xyxy, nms_rotated, probiou, regularize

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "golden" / "ultralytics_obb_reference.json"


@pytest.fixture(scope="module")
def ref() -> dict:
    data = json.loads(REFERENCE.read_text())
    assert data["source"].startswith("ultralytics 8.4.190")
    return data


def test_probiou_matches_the_peer(ref: dict) -> None:
    boxes = np.array(ref["xywhr"], np.float32)
    np.testing.assert_allclose(probiou(boxes, boxes), np.array(ref["probiou"]), atol=5e-5)


@pytest.mark.parametrize("threshold", [0.3, 0.45, 0.7])
def test_rotated_nms_keeps_what_the_peer_keeps(ref: dict, threshold: float) -> None:
    boxes, scores = np.array(ref["xywhr"], np.float32), np.array(ref["scores"], np.float32)
    classes = np.array(ref["class_id"])
    assert sorted(nms_rotated(boxes, scores, threshold).tolist()) == ref[f"keep_agnostic_{threshold}"]
    kept = nms_rotated(boxes, scores, threshold, classes)
    assert sorted(kept.tolist()) == ref[f"keep_classes_{threshold}"]
    assert np.all(np.diff(scores[kept]) <= 0)  # highest score first


def test_probiou_is_one_for_a_box_with_itself_and_falls_with_distance_and_turn() -> None:
    box = np.array([[50, 50, 40, 10, 0.3]], np.float32)
    assert probiou(box, box)[0, 0] > 0.99
    moved = box + np.array([[5, 0, 0, 0, 0]], np.float32)
    turned = box + np.array([[0, 0, 0, 0, math.pi / 2]], np.float32)
    far = box + np.array([[500, 0, 0, 0, 0]], np.float32)
    values = [probiou(box, other)[0, 0] for other in (moved, turned, far)]
    assert 0.99 > values[0] > 0.3 and values[1] < values[0] and values[2] < 1e-3
    # a half-turn is the same rectangle
    assert probiou(box, box + np.array([[0, 0, 0, 0, math.pi]], np.float32))[0, 0] > 0.99


def test_corners_and_enclosing_boxes(ref: dict) -> None:
    boxes = np.array(ref["xywhr"], np.float32)[:8]
    np.testing.assert_allclose(corners(boxes), np.array(ref["corners"]), atol=1e-3)
    square = np.array([[10, 20, 4, 2, 0.0]], np.float32)
    np.testing.assert_allclose(enclosing_xyxy(square), [[8, 19, 12, 21]], atol=1e-6)
    tilted = np.array([[0, 0, 2, 2, math.pi / 4]], np.float32)
    np.testing.assert_allclose(
        enclosing_xyxy(tilted), [[-math.sqrt(2), -math.sqrt(2), math.sqrt(2), math.sqrt(2)]], atol=1e-5
    )


def test_regularize_keeps_the_rectangle_and_bounds_the_angle() -> None:
    boxes = np.array([[0, 0, 4, 2, 2.0], [0, 0, 4, 2, -0.5], [0, 0, 4, 2, 0.2]], np.float32)
    out = regularize(boxes)
    assert np.all((out[:, 4] >= 0) & (out[:, 4] < math.pi / 2))
    np.testing.assert_allclose(
        np.sort(np.abs(corners(out)).ravel()), np.sort(np.abs(corners(boxes)).ravel()), atol=1e-5
    )


def test_no_boxes_keep_nothing() -> None:
    assert nms_rotated(np.zeros((0, 5), np.float32), np.zeros(0, np.float32), 0.5).shape == (0,)
