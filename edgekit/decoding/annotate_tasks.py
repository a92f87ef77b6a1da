"""What the other tasks add to a drawing: filled masks, keypoints with their skeleton, rotated
boxes. Called by ``edgekit.decoding.annotate.draw`` with the image it draws on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Sequence, Tuple

import numpy as np

from edgekit.decoding.masks import CroppedMasks

if TYPE_CHECKING:
    from edgekit.decoding.detections import Detections

Color = Tuple[int, int, int]
MASK_ALPHA = 0.4
#: keypoints below this visibility are not drawn (the peer's threshold)
MIN_VISIBILITY = 0.5
#: COCO's 17-keypoint skeleton (0-based pairs), drawn when a pose model has 17 keypoints
COCO_SKELETON: Tuple[Tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip


def fill_masks(out: np.ndarray, masks: Any, boxes: np.ndarray, colors: Sequence[Color]) -> None:
    """Blend each mask's class colour into ``out`` (in place), only over the mask's box."""
    h, w = out.shape[:2]
    if isinstance(masks, CroppedMasks) and masks.frame == (h, w):
        for (r0, c0), crop, color in zip(masks.offsets, masks.crops, colors):
            region = out[r0 : r0 + crop.shape[0], c0 : c0 + crop.shape[1]]
            if crop.any():
                tint = np.asarray(color, np.float32)
                region[crop] = (region[crop] * (1 - MASK_ALPHA) + tint * MASK_ALPHA).astype(np.uint8)
        return
    for mask, box, color in zip(masks, boxes, colors):
        if mask.shape != (h, w):
            continue  # masks at prototype resolution are not drawn on the original image
        x1, y1 = max(int(box[0]), 0), max(int(box[1]), 0)
        x2, y2 = min(int(np.ceil(box[2])), w), min(int(np.ceil(box[3])), h)
        region, inside = out[y1:y2, x1:x2], mask[y1:y2, x1:x2]
        if inside.any():
            tint = np.asarray(color, np.float32)
            region[inside] = (region[inside] * (1 - MASK_ALPHA) + tint * MASK_ALPHA).astype(np.uint8)


def draw_keypoints(
    cv2: Any, out: np.ndarray, keypoints: np.ndarray, colors: Sequence[Color], lw: int
) -> None:
    """Each detection's visible keypoints and, for 17-keypoint models, the COCO skeleton."""
    radius = max(2, lw + 1)
    for points, color in zip(keypoints, colors):
        visible = points[:, 2] >= MIN_VISIBILITY if points.shape[1] > 2 else np.ones(len(points), bool)
        if len(points) == 17:
            for a, b in COCO_SKELETON:
                if visible[a] and visible[b]:
                    pa, pb = (tuple(int(round(v)) for v in points[i, :2]) for i in (a, b))
                    cv2.line(out, pa, pb, color, max(1, lw // 2 + 1), cv2.LINE_AA)
        for (x, y), seen in zip(points[:, :2], visible):
            if seen:
                cv2.circle(out, (int(round(x)), int(round(y))), radius, color, -1, cv2.LINE_AA)


def draw_rotated(cv2: Any, out: np.ndarray, xywhr: np.ndarray, colors: Sequence[Color], lw: int) -> None:
    """The outline of each rotated box."""
    from edgekit.decoding.rotated import corners

    polygons: List[np.ndarray] = [np.round(c).astype(np.int32) for c in corners(xywhr)]
    for polygon, color in zip(polygons, colors):
        cv2.polylines(out, [polygon.reshape(-1, 1, 2)], True, color, lw, cv2.LINE_AA)


def draw_tasks(cv2: Any, out: np.ndarray, detections: Detections, colors: Sequence[Color], lw: int) -> bool:
    """Masks under, keypoints and rotated boxes over ``out``; True when the boxes were drawn here
    (rotated ones replace the axis-aligned boxes)."""
    if detections.masks is not None:
        fill_masks(out, detections.masks, detections.xyxy, colors)
    if detections.keypoints is not None:
        draw_keypoints(cv2, out, detections.keypoints, colors, lw)
    if detections.xywhr is not None:
        draw_rotated(cv2, out, detections.xywhr, colors, lw)
        return True
    return False
