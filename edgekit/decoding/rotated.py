"""Oriented boxes on the host (numpy): probabilistic IoU, rotated NMS, corners.

A rotated box is ``xywhr``: centre, width, height and the angle in radians. Overlap is the
probabilistic IoU of the boxes' Gaussians (Llerena et al., arXiv:2106.06072), the measure
Ultralytics' OBB models are trained and validated with, so edgekit's NMS keeps the boxes the
peer keeps: boxes sorted by score, one dropped when any higher-scoring box overlaps it by more
than the threshold (Fast-NMS over the upper triangle, as the peer runs it).
"""

from __future__ import annotations

import math
from typing import Any, Optional, Tuple

import numpy as np

#: classes are kept apart by shifting each class's centres this far (the peer's ``max_wh``)
CLASS_OFFSET = 7680.0
_EPS = 1e-7


def covariance(xywhr: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (a, b, c) of each box's Gaussian covariance ``[[a, c], [c, b]]`` (uniform over the box)."""
    w2 = np.square(xywhr[:, 2]) / 12.0
    h2 = np.square(xywhr[:, 3]) / 12.0
    cos, sin = np.cos(xywhr[:, 4]), np.sin(xywhr[:, 4])
    return w2 * cos * cos + h2 * sin * sin, w2 * sin * sin + h2 * cos * cos, (w2 - h2) * cos * sin


def probiou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """Probabilistic IoU (N, M) between ``boxes1`` (N, 5) and ``boxes2`` (M, 5), both ``xywhr``."""
    b1 = np.asarray(boxes1, np.float64).reshape(-1, 5)
    b2 = np.asarray(boxes2, np.float64).reshape(-1, 5)
    a1, bb1, c1 = (v[:, None] for v in covariance(b1))
    a2, bb2, c2 = (v[None, :] for v in covariance(b2))
    dx = b1[:, 0, None] - b2[None, :, 0]
    dy = b1[:, 1, None] - b2[None, :, 1]
    a, b, c = a1 + a2, bb1 + bb2, c1 + c2
    det = a * b - c * c
    t1 = (a * dy * dy + b * dx * dx) / (det + _EPS) * 0.25
    t2 = (c * -dx * dy) / (det + _EPS) * 0.5
    own = np.sqrt(np.clip(a1 * bb1 - c1 * c1, 0, None) * np.clip(a2 * bb2 - c2 * c2, 0, None))
    t3 = 0.5 * np.log(det / (4 * own + _EPS) + _EPS)
    distance = np.clip(t1 + t2 + t3, _EPS, 100.0)
    return (1.0 - np.sqrt(1.0 - np.exp(-distance) + _EPS)).astype(np.float32)


def nms_rotated(
    xywhr: np.ndarray, scores: np.ndarray, iou: float, class_id: Optional[np.ndarray] = None
) -> np.ndarray:
    """Indices of the boxes kept, highest score first; per class unless ``class_id`` is None."""
    boxes = np.asarray(xywhr, np.float32).reshape(-1, 5)
    if not len(boxes):
        return np.zeros(0, np.int64)
    order = np.argsort(-np.asarray(scores), kind="stable")
    boxes = boxes[order].copy()
    if class_id is not None:
        boxes[:, :2] += np.asarray(class_id, np.float32)[order, None] * CLASS_OFFSET
    overlap = np.triu(probiou(boxes, boxes), k=1)
    keep = ~(overlap > iou).any(axis=0)
    return order[keep]


def regularize(xywhr: np.ndarray) -> np.ndarray:
    """The same boxes with angles in [0, pi/2), width and height swapped where that turns them."""
    out = np.array(xywhr, np.float32).reshape(-1, 5)
    swap = np.mod(out[:, 4], math.pi) >= math.pi / 2
    out[swap, 2], out[swap, 3] = out[swap, 3].copy(), out[swap, 2].copy()
    out[:, 4] = np.mod(out[:, 4], math.pi / 2)
    return out


def corners(xywhr: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
    """The four corners (N, 4, 2) of each box, in order around it, computed in ``dtype``."""
    b = np.asarray(xywhr, dtype).reshape(-1, 5)
    cos, sin = np.cos(b[:, 4]), np.sin(b[:, 4])
    half_w = np.stack([b[:, 2] / 2 * cos, b[:, 2] / 2 * sin], -1)
    half_h = np.stack([-b[:, 3] / 2 * sin, b[:, 3] / 2 * cos], -1)
    c = b[:, :2]
    return np.stack([c + half_w + half_h, c + half_w - half_h, c - half_w - half_h, c - half_w + half_h], 1)


def enclosing_xyxy(xywhr: np.ndarray) -> np.ndarray:
    """The axis-aligned box (N, 4) around each rotated box."""
    pts = corners(xywhr)
    return np.concatenate([pts.min(axis=1), pts.max(axis=1)], axis=1).astype(np.float32)
