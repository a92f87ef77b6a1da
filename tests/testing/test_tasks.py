"""Segment, pose and OBB labels of the shapes dataset: formats, and agreement with the drawn pixels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

from edgekit.decoding.encode import rle_to_mask
from edgekit.testing import CLASS_NAMES, DatasetInfo, SceneConfig, generate, render_sample
from edgekit.testing.draw import SHAPES, place
from edgekit.testing.scene import render_scene
from edgekit.testing.shapes import image_rng
from edgekit.testing.tasks import FLIP_IDX, KEYPOINT_NAMES, SKELETON, Instance, instances, keypoints
from tests.conftest import need

cv2 = need("cv2")

N = 10
CROWDED = SceneConfig(min_objects=8, min_size=24, small_share=0.3)


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, DatasetInfo]:
    root = tmp_path_factory.mktemp("tasks")
    return {t: generate(root / t, 0, 2, N, seed=3, task=t) for t in ("detect", "segment", "pose", "obb")}


@pytest.fixture(scope="module")
def scenes() -> List[tuple]:
    """Crowded scenes (much occlusion) with their instances."""
    out = []
    for i in range(8):
        scene = render_scene(image_rng(11, "train", i), CROWDED)
        out.append((scene, instances(scene)))
    return out


def rows(info: DatasetInfo, split: str = "test") -> Dict[str, List[List[float]]]:
    return {
        p.stem: [[float(v) for v in line.split()] for line in p.read_text().splitlines()]
        for p in sorted(info.labels(split).glob("*.txt"))
    }


def coco(info: DatasetInfo, split: str = "test") -> dict:
    return json.loads(info.annotations(split).read_text())


def by_image(data: dict) -> Dict[str, List[dict]]:
    out: Dict[str, List[dict]] = {f"{i['id']:06d}": [] for i in data["images"]}
    for a in data["annotations"]:
        out[f"{a['image_id']:06d}"].append(a)
    return out


def test_tasks_share_the_images_and_boxes_and_detect_is_unchanged(sets: Dict[str, DatasetInfo]) -> None:
    det = sets["detect"]
    meta = json.loads((det.root / "dataset.json").read_text())
    assert "task" not in meta and "kpt_shape" not in det.data_yaml.read_text()
    boxes = [(a["image_id"], a["category_id"], a["bbox"]) for a in coco(det)["annotations"]]
    for task, info in sets.items():
        for split in ("val", "test"):
            for img in det.images(split).glob("*.jpg"):
                assert (info.images(split) / img.name).read_bytes() == img.read_bytes(), (task, img)
        assert [(a["image_id"], a["category_id"], a["bbox"]) for a in coco(info)["annotations"]] == boxes
        if task != "detect":
            assert json.loads((info.root / "dataset.json").read_text())["task"] == task
            assert info.task == task and task in info.data_yaml.read_text().splitlines()[0]
    for stem, lines in rows(sets["pose"]).items():  # pose rows start with the detection row
        assert [r[:5] for r in lines] == rows(det)[stem]


def test_segment_polygons_and_rle_are_the_visible_mask(sets: Dict[str, DatasetInfo]) -> None:
    info = sets["segment"]
    anns = by_image(coco(info))
    checked = 0
    for stem, lines in rows(info).items():
        assert len(lines) == len(anns[stem])
        for row, ann in zip(lines, anns[stem]):
            assert row[0] == ann["category_id"] - 1 and len(row) % 2 == 1 and len(row) >= 7
            xy = np.array(row[1:]).reshape(-1, 2)
            assert xy.min() >= 0 and xy.max() <= 1
            mask = rle_to_mask(ann["segmentation"])
            assert mask.shape == (320, 320) and mask.sum() == ann["area"]
            ys, xs = np.nonzero(mask)
            x, y, w, h = ann["bbox"]
            assert (xs.min(), ys.min(), xs.max() + 1 - x, ys.max() + 1 - y) == (x, y, w, h)
            drawn = np.zeros((320, 320), np.uint8)
            cv2.fillPoly(drawn, [np.floor(xy * 320).astype(np.int32)], 1)
            iou = (mask & (drawn > 0)).sum() / (mask | (drawn > 0)).sum()
            if ann["area"] >= 100:
                assert iou >= 0.9, (stem, ann)
                checked += 1
    assert checked >= 20


def test_instance_masks_are_disjoint_and_match_the_visible_share(scenes: List[tuple]) -> None:
    for scene, insts in scenes:
        seen = np.zeros((320, 320), bool)
        for ann, inst, (z, patch) in zip(scene.annotations, insts, scene.layers):
            full = inst.full_mask((320, 320))
            assert np.array_equal(full, scene.owner == z)
            assert not (seen & full).any()
            seen |= full
            assert inst.area / patch.area == pytest.approx(ann.visible, abs=1e-4)


def polygon_iou(inst: Instance) -> float:
    drawn = np.zeros((320, 320), np.uint8)
    cv2.fillPoly(drawn, [np.floor(inst.polygon).astype(np.int32)], 1)
    mask = inst.full_mask((320, 320))
    return float((mask & (drawn > 0)).sum() / (mask | (drawn > 0)).sum())


def test_polygons_of_occluded_split_and_holed_objects(scenes: List[tuple]) -> None:
    parts = rings = 0
    for _, insts in scenes:
        for inst in insts:
            n, _ = cv2.connectedComponents(inst.mask.astype(np.uint8), connectivity=8)
            parts += n > 2
            rings += CLASS_NAMES[inst.cls] == "ring"  # the ring keeps its hole
            if inst.area >= 100:
                assert polygon_iou(inst) >= 0.9
    assert parts > 0 and rings > 0  # split objects and rings did occur


def test_pose_rows_coco_keypoints_and_yaml(sets: Dict[str, DatasetInfo]) -> None:
    yaml = need("yaml")
    info = sets["pose"]
    data = yaml.safe_load(info.data_yaml.read_text())
    assert data["kpt_shape"] == [4, 3] and data["flip_idx"] == list(FLIP_IDX)
    gt = coco(info)
    assert all(c["keypoints"] == list(KEYPOINT_NAMES) for c in gt["categories"])
    assert all(c["skeleton"] == [list(p) for p in SKELETON] for c in gt["categories"])
    anns = by_image(gt)
    for stem, lines in rows(info).items():
        for row, ann in zip(lines, anns[stem]):
            assert len(row) == 5 + 4 * 3
            kpts = np.array(row[5:]).reshape(4, 3)
            assert set(kpts[:, 2]) <= {0.0, 1.0, 2.0} and kpts[:, :2].min() >= 0 and kpts[:, :2].max() <= 1
            assert (kpts[kpts[:, 2] == 0, :2] == 0).all()
            ck = np.array(ann["keypoints"]).reshape(4, 3)
            np.testing.assert_allclose(ck[:, :2], kpts[:, :2] * 320, atol=2e-3)
            assert (ck[:, 2] == kpts[:, 2]).all() and ann["num_keypoints"] == int((ck[:, 2] > 0).sum())


def test_keypoints_are_on_the_object_and_flagged_by_occlusion(scenes: List[tuple]) -> None:
    counts = {0: 0, 1: 0, 2: 0}
    for scene, insts in scenes:
        for inst, (z, patch) in zip(insts, scene.layers):
            k = inst.keypoints
            labelled = k[:, 2] > 0
            pts = k[labelled, :2]
            for j, (axis, extreme) in enumerate([(1, np.min), (0, np.max), (1, np.max), (0, np.min)]):
                if labelled[j]:  # top, right, bottom, left
                    assert k[j, axis] == extreme(pts[:, axis])
            visible = inst.full_mask((320, 320))
            far = cv2.distanceTransform((~visible).astype(np.uint8), cv2.DIST_L2, 5)
            for x, y, v in k:
                counts[int(v)] += 1
                if v == 0:
                    continue
                px, py = int(x), int(y)
                assert patch.alpha[py - patch.y0, px - patch.x0] > 0  # on the drawn outline
                assert (v == 1) == (scene.owner[py, px] > z)  # hidden by what is drawn over it
                if v == 2:
                    assert far[py, px] <= 1.5
    assert min(counts.values()) > 0


@pytest.mark.parametrize("name", list(SHAPES))
def test_flip_idx_maps_keypoints_of_the_mirrored_shape(name: str) -> None:
    rng = np.random.default_rng(1)
    unit = SHAPES[name](rng)
    for _ in range(5):
        cx, cy, size, angle, aspect = *rng.uniform(60, 100, 2), rng.uniform(20, 60), rng.uniform(0, 6.3), 0.9
        a = place(unit, cx, cy, size, angle, aspect)
        b = place([u * (-1, 1) for u in unit], 160 - 1 - cx, cy, size, -angle, aspect)
        owner = np.zeros((160, 160), np.int16)
        ka, kb = keypoints(owner, 0, a), keypoints(owner, 0, b)
        mirrored = ka[list(FLIP_IDX)] * (-1, 1, 1) + (160, 0, 0)
        np.testing.assert_allclose(kb, mirrored, atol=0.15)


def rect_iou(a: np.ndarray, b: np.ndarray) -> float:
    inter, _ = cv2.intersectConvexConvex(a.astype(np.float32), b.astype(np.float32))
    return inter / (cv2.contourArea(a.astype(np.float32)) + cv2.contourArea(b.astype(np.float32)) - inter)


def test_obb_is_the_tight_rectangle_of_the_visible_pixels(scenes: List[tuple]) -> None:
    for _, insts in scenes:
        for inst in insts:
            c = inst.corners
            sides = np.roll(c, -1, axis=0) - c
            assert abs(float(sides[0] @ sides[1])) < 1e-2 * (np.hypot(*sides[0]) * np.hypot(*sides[1]) + 1)
            ys, xs = np.nonzero(inst.full_mask((320, 320)))
            squares = np.stack([xs, ys], 1)[:, None] + np.array([[0, 0], [1, 0], [1, 1], [0, 1]])
            squares = squares.reshape(-1, 2).astype(np.float32)
            inside = [cv2.pointPolygonTest(c.astype(np.float32), tuple(map(float, p)), True) for p in squares]
            assert min(inside) >= -1e-3  # encloses every visible pixel
            tight = cv2.boxPoints(cv2.minAreaRect(squares))
            assert rect_iou(c, tight) >= 0.99
            x0, y0, x1, y1 = inst.box
            assert cv2.contourArea(c.astype(np.float32)) <= (x1 - x0) * (y1 - y0) + 1e-3


def test_obb_rows_and_coco_xywhr(sets: Dict[str, DatasetInfo]) -> None:
    info = sets["obb"]
    anns = by_image(coco(info))
    for stem, lines in rows(info).items():
        for row, ann in zip(lines, anns[stem]):
            assert len(row) == 9 and row[0] == ann["category_id"] - 1
            corners = np.array(row[1:]).reshape(4, 2) * 320
            (cx, cy), (w, h), _ = cv2.minAreaRect(corners.astype(np.float32))
            xc, yc, wr, hr, theta = ann["xywhr"]
            assert (xc, yc) == pytest.approx((cx, cy), abs=0.01) and wr >= hr
            assert sorted((wr, hr)) == pytest.approx(sorted((w, h)), abs=0.01)
            assert -np.pi / 4 - 1e-6 <= theta < 3 * np.pi / 4
            x, y, bw, bh = ann["bbox"]  # the axis-aligned box lies inside the oriented one's extent
            assert corners[:, 0].min() <= x + 0.01 and corners[:, 0].max() >= x + bw - 0.01
            assert corners[:, 1].min() <= y + 0.01 and corners[:, 1].max() >= y + bh - 0.01


def test_render_sample_carries_the_task_labels(sets: Dict[str, DatasetInfo]) -> None:
    index = 4
    seg = render_sample(seed=3, index=index, split="test", task="segment")
    anns = by_image(coco(sets["segment"]))[f"{index + 1:06d}"]
    assert seg.masks is not None and seg.masks.shape == (len(anns), 320, 320)
    for mask, ann in zip(seg.masks, anns):
        assert np.array_equal(mask, rle_to_mask(ann["segmentation"]))
    pose = render_sample(seed=3, index=index, split="test", task="pose")
    kpts = [a["keypoints"] for a in by_image(coco(sets["pose"]))[f"{index + 1:06d}"]]
    np.testing.assert_allclose(pose.keypoints.reshape(len(kpts), -1), kpts, atol=1e-3)
    obb = render_sample(seed=3, index=index, split="test", task="obb")
    xywhr = [a["xywhr"] for a in by_image(coco(sets["obb"]))[f"{index + 1:06d}"]]
    np.testing.assert_allclose(obb.xywhr, xywhr, atol=1e-3)
    assert np.array_equal(seg.image, obb.image) and seg.masks is not None and obb.masks is None


def test_task_output_is_deterministic_in_parallel(sets: Dict[str, DatasetInfo], tmp_path: Path) -> None:
    for task in ("segment", "pose", "obb"):
        par = generate(tmp_path / task, 0, 2, N, seed=3, task=task, workers=2)
        ours = sets[task]
        for sub in ("labels/test", "labels/val", "annotations"):
            for p in sorted((ours.root / sub).iterdir()):
                assert (par.root / sub / p.name).read_bytes() == p.read_bytes(), (task, p)


def test_unknown_task_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown task"):
        generate(tmp_path / "x", 0, 0, 1, task="classify")
    with pytest.raises(ValueError, match="unknown task"):
        render_sample(task="keypoints")
