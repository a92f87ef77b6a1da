"""Instance masks, keypoints and oriented boxes of a scene's objects, derived from what is drawn.

Every label comes from the scene's final owner map (the item on top of each pixel, alpha >= 50 %)
and the objects' placed outlines, so it describes exactly the pixels of the image:

- **mask**: the object's visible pixels (after occlusion and the image border). The YOLO polygon
  traces it with ``cv2.findContours`` (``RETR_CCOMP``: outer outlines and holes, such as the
  ring's); several outlines (parts split by an occluder, holes) are joined into one polygon at
  their closest points as Ultralytics' ``merge_multi_segment`` joins COCO's multi-part masks, so
  the polygon filled even-odd (``cv2.fillPoly``, which Ultralytics' ``polygon2mask`` uses) gives
  the mask back, plus the one-pixel lines of the joins. Vertices are pixel centres (``x + 0.5``).
  COCO gets the exact mask as uncompressed RLE and its pixel count as ``area``.
- **keypoints** (K = 4, for every class): the vertices of the object's placed outline that are
  topmost, rightmost, bottommost and leftmost in the image (for the round shapes, vertices of the
  48-gon that draws them). They are defined in the image frame, so they can be seen in the image
  for shapes whose rotation cannot (circle, ring) and for symmetric ones; a horizontal flip swaps
  right and left (``FLIP_IDX``). Visibility: 0 outside the image (written as ``0 0 0``), 1 when an
  item drawn over the object (class object or clutter) covers the keypoint's pixel, else 2.
- **oriented box**: the minimum-area rectangle around the visible pixels' squares
  (``cv2.minAreaRect`` of their corners: tight, as DOTA boxes are). The corners of a tilted box
  around an object cut by the image border may lie a little outside the image; they are not
  clipped (clipping would cut the box into another shape), as Ultralytics' own DOTA tiling
  (``split_dota``) leaves them. COCO gets ``xywhr`` = ``[cx, cy, w, h, angle]`` in pixels and
  radians, as Ultralytics' ``xyxyxyxy2xywhr`` computes it (``w >= h``, angle in [-pi/4, 3pi/4)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from edgekit.testing.backgrounds import _cv2
from edgekit.testing.draw import SHIFT, Patch
from edgekit.testing.scene import Annotation, Scene
from edgekit.vocab import TASKS

KEYPOINT_NAMES: Tuple[str, ...] = ("top", "right", "bottom", "left")
FLIP_IDX: Tuple[int, ...] = (0, 3, 2, 1)  # a horizontal flip swaps the rightmost and the leftmost
SKELETON: Tuple[Tuple[int, int], ...] = ((1, 2), (2, 3), (3, 4), (4, 1))  # COCO's 1-based pairs


@dataclass(frozen=True)
class Instance:
    """One object's task labels in pixels (continuous coordinates: pixel ``i`` spans ``[i, i + 1)``)."""

    cls: int
    box: Tuple[int, int, int, int]  # the detection box, x1/y1 exclusive
    mask: np.ndarray  # (y1 - y0, x1 - x0) bool: the visible pixels inside ``box``
    polygon: np.ndarray  # (N, 2) float: the YOLO segment
    keypoints: np.ndarray  # (K, 3) float: x, y, visibility (0, 1, 2)
    corners: np.ndarray  # (4, 2) float: the oriented box

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))

    def full_mask(self, shape: Tuple[int, int]) -> np.ndarray:
        """The (H, W) bool mask of the whole image."""
        out = np.zeros(shape, bool)
        x0, y0, x1, y1 = self.box
        out[y0:y1, x0:x1] = self.mask
        return out


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
    return task


def instances(scene: Scene) -> List[Instance]:
    """The task labels of every annotation of ``scene``, in the same order."""
    if scene.owner is None:
        raise ValueError("the scene has no owner map (render it with render_scene)")
    out = []
    for ann, (z, patch) in zip(scene.annotations, scene.layers):
        x0, y0, x1, y1 = ann.box
        mask = scene.owner[y0:y1, x0:x1] == z
        outlines = _outlines(mask)
        shift = np.array([x0, y0], np.float64)
        polygon = merge_outlines(outlines) + shift + 0.5
        corners = oriented_box(np.concatenate(outlines) + shift)
        out.append(Instance(ann.cls, ann.box, mask, polygon, keypoints(scene.owner, z, patch), corners))
    return out


def _outlines(mask: np.ndarray) -> List[np.ndarray]:
    """The outlines of a mask's pixels (centres, integer), each outer one followed by its holes."""
    cv2 = _cv2()
    found, hierarchy = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    contours = [c.reshape(-1, 2).astype(np.float64) for c in found]
    tree = hierarchy.reshape(-1, 4) if len(contours) else np.zeros((0, 4), int)
    outer = [i for i in range(len(contours)) if tree[i, 3] < 0]
    outer.sort(key=lambda i: (-cv2.contourArea(found[i]), i))  # the largest part first
    order = []
    for i in outer:
        order.append(i)
        order += [j for j in range(len(contours)) if tree[j, 3] == i]
    return [contours[i] for i in order]


def merge_outlines(outlines: Sequence[np.ndarray]) -> np.ndarray:
    """Outlines joined into one polygon at their closest points (Ultralytics' ``merge_multi_segment``).

    Outline ``i`` is entered from outline ``i - 1`` at their closest pair of points; the polygon
    goes out along the chain, around the last outline, and back, so every join is walked twice.
    """
    segs = [np.asarray(s, np.float64).reshape(-1, 2) for s in outlines]
    if len(segs) == 1:
        return segs[0]
    idx: List[List[int]] = [[] for _ in segs]
    for i in range(1, len(segs)):
        d = ((segs[i - 1][:, None, :] - segs[i][None, :, :]) ** 2).sum(-1)
        a, b = np.unravel_index(int(np.argmin(d)), d.shape)
        idx[i - 1].append(int(a))
        idx[i].append(int(b))
    last = len(segs) - 1
    forward, back = [], []
    for i, ix in enumerate(idx):
        if len(ix) == 2 and ix[0] > ix[1]:
            ix = [len(segs[i]) - 1 - x for x in ix]
            segs[i] = segs[i][::-1]
        seg = np.roll(segs[i], -ix[0], axis=0)
        seg = np.concatenate([seg, seg[:1]])
        if i in (0, last):
            forward.append(seg)
        else:
            forward.append(seg[: ix[1] - ix[0] + 1])
            back.insert(0, seg[ix[1] - ix[0] :])
    return np.concatenate(forward + back)


def keypoints(owner: np.ndarray, z: int, patch: Patch) -> np.ndarray:
    """(4, 3): the top, right, bottom and left vertices of the outline, with their visibility."""
    outline = patch.contours[0] if patch.contours else np.zeros((1, 2))
    pts = np.asarray(outline, np.float64).reshape(-1, 2) / (1 << SHIFT) + (patch.x0, patch.y0) + 0.5
    picks = [np.argmin(pts[:, 1]), np.argmax(pts[:, 0]), np.argmax(pts[:, 1]), np.argmin(pts[:, 0])]
    h, w = owner.shape
    out = np.zeros((len(picks), 3))
    for k, i in enumerate(picks):
        x, y = pts[i]
        px, py = int(np.floor(x)), int(np.floor(y))
        if 0 <= px < w and 0 <= py < h:
            out[k] = (x, y, 1.0 if owner[py, px] > z else 2.0)
    return out


def oriented_box(pixels: np.ndarray) -> np.ndarray:
    """(4, 2) corners of the minimum-area rectangle around the squares of ``pixels`` (x, y integers)."""
    cv2 = _cv2()
    squares = (pixels[:, None, :] + np.array([[0, 0], [1, 0], [1, 1], [0, 1]])).reshape(-1, 2)
    return cv2.boxPoints(cv2.minAreaRect(squares.astype(np.float32))).astype(np.float64)


def xywhr(corners: np.ndarray) -> List[float]:
    """``[cx, cy, w, h, angle]`` of box corners, as Ultralytics' ``xyxyxyxy2xywhr`` computes it."""
    cv2 = _cv2()
    (cx, cy), (w, h), angle = cv2.minAreaRect(np.asarray(corners, np.float32).reshape(-1, 2))
    theta = angle / 180 * np.pi
    if w < h:
        w, h, theta = h, w, theta + np.pi / 2
    while theta >= 3 * np.pi / 4:
        theta -= np.pi
    while theta < -np.pi / 4:
        theta += np.pi
    return [float(cx), float(cy), float(w), float(h), float(theta)]


def _xy(points: np.ndarray, imgsz: int) -> str:
    return " ".join(f"{v:.6f}" for v in (np.asarray(points, np.float64).reshape(-1) / imgsz))


def yolo_task_line(task: str, ann: Annotation, inst: Instance, imgsz: int, box_line: str) -> str:
    """One Ultralytics label line: ``box_line`` (``class cx cy w h``) for detect, else the task's."""
    if task == "segment":
        return f"{ann.cls} {_xy(inst.polygon, imgsz)}"
    if task == "obb":
        return f"{ann.cls} {_xy(inst.corners, imgsz)}"
    if task == "pose":
        kpts = " ".join(f"{_xy(k[:2], imgsz)} {int(k[2])}" for k in inst.keypoints)
        return f"{box_line} {kpts}"
    return box_line


def coco_fields(task: str, inst: Instance, imgsz: int) -> Dict[str, Any]:
    """What the task adds to (or changes in) an annotation of the COCO json."""
    from edgekit.decoding.encode import mask_to_rle

    if task == "segment":
        return {"segmentation": mask_to_rle(inst.full_mask((imgsz, imgsz))), "area": inst.area}
    if task == "pose":
        kpts = [round(float(v), 3) for v in inst.keypoints.reshape(-1)]
        return {"keypoints": kpts, "num_keypoints": int((inst.keypoints[:, 2] > 0).sum()), "area": inst.area}
    if task == "obb":
        return {"xywhr": [round(v, 6) for v in xywhr(inst.corners)]}
    return {}


def coco_categories(task: str, names: Sequence[str]) -> List[Dict[str, Any]]:
    cats: List[Dict[str, Any]] = [
        {"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(names)
    ]
    if task == "pose":
        skeleton = [list(p) for p in SKELETON]
        cats = [dict(c, keypoints=list(KEYPOINT_NAMES), skeleton=skeleton) for c in cats]
    return cats


def data_yaml_lines(task: str) -> List[str]:
    """What the task adds to Ultralytics' data.yaml."""
    if task == "pose":
        flip = ", ".join(str(i) for i in FLIP_IDX)
        return [f"kpt_shape: [{len(KEYPOINT_NAMES)}, 3]", f"flip_idx: [{flip}]"]
    return []
