"""One synthetic scene: the occlusion rule, boxes, sizes and classes."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.testing import CLASS_NAMES, SceneConfig
from edgekit.testing.draw import SHAPES, Patch, place
from edgekit.testing.scene import _Item, _resolve_occlusion, render_scene
from tests.conftest import need

need("cv2")


def square(x0: int, y0: int, side: int) -> Patch:
    return Patch(np.full((side, side), 255, np.uint8), x0, y0)


def test_occluded_object_keeps_its_visible_box_or_is_removed() -> None:
    cfg = SceneConfig(imgsz=100)
    half = _Item(square(10, 10, 20), 0)  # its right half (x >= 20) is covered below
    mostly = _Item(square(50, 50, 20), 1)  # 70 % covered: under the 40 % limit
    items = [half, mostly, _Item(square(20, 0, 40), -1), _Item(square(50, 56, 30), -1)]
    _resolve_occlusion(items, cfg)
    assert half.keep and half.visible == pytest.approx(0.5)
    assert half.box == (10, 10, 20, 30)  # x1/y1 exclusive: the visible left half
    assert not mostly.keep and mostly.visible == pytest.approx(0.3)


def test_object_on_top_is_fully_visible_and_truncation_counts_as_hidden() -> None:
    cfg = SceneConfig(imgsz=100)
    top = _Item(square(10, 10, 20), 2)
    cut = _Item(square(90, 0, 20), 3)  # half of it hangs over the right border
    gone = _Item(square(95, 50, 20), 4)  # three quarters off the image
    items = [_Item(square(0, 0, 40), -1), top, cut, gone]
    _resolve_occlusion(items, cfg)
    assert top.visible == 1.0 and top.box == (10, 10, 30, 30)
    assert cut.keep and cut.visible == pytest.approx(0.5) and cut.box == (90, 0, 100, 20)
    assert not gone.keep


def test_every_shape_is_distinct_and_fills_its_size() -> None:
    masks = {}
    for name, make in SHAPES.items():
        patch = place(make(np.random.default_rng(0)), 50.0, 50.0, 80.0, 0.0)
        ys, xs = np.nonzero(patch.alpha >= 128)
        assert 60 <= max(np.ptp(xs), np.ptp(ys)) + 1 <= 82, name
        canvas = np.zeros((120, 120), bool)
        canvas[patch.y0 + ys, patch.x0 + xs] = True
        masks[name] = canvas
    assert len(masks) >= 6
    names = list(masks)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            inter = np.logical_and(masks[a], masks[b]).sum()
            union = np.logical_or(masks[a], masks[b]).sum()
            assert inter / union < 0.9, f"{a} and {b} have almost the same silhouette"


def test_scenes_keep_the_rules() -> None:
    cfg = SceneConfig()
    anns = []
    for i in range(12):
        scene = render_scene(np.random.default_rng(i), cfg)
        assert scene.image.shape == (320, 320, 3) and scene.image.dtype == np.uint8
        assert 65 <= scene.jpeg_quality <= 95
        assert len(scene.annotations) <= cfg.max_objects
        anns += scene.annotations
    assert anns
    for a in anns:
        x0, y0, x1, y1 = a.box
        assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 320
        assert min(x1 - x0, y1 - y0) >= cfg.min_box_side
        assert max(x1 - x0, y1 - y0) <= cfg.size_range[1] + 2
        assert cfg.min_visible <= a.visible <= 1.0
        assert 0 <= a.cls < len(CLASS_NAMES)


def test_crowded_scenes_occlude_without_breaking_the_limit() -> None:
    cfg = SceneConfig(min_objects=12, min_size=60, small_share=0.0, max_distractors=0)
    visible = [a.visible for i in range(6) for a in render_scene(np.random.default_rng(i), cfg).annotations]
    assert min(visible) >= 0.4
    assert sum(v < 0.95 for v in visible) >= len(visible) // 5  # occlusion does happen


@pytest.mark.parametrize(
    "bad",
    [
        {"min_objects": 5, "max_objects": 2},
        {"min_size": 50, "max_size": 20},
        {"min_visible": 0},
        {"imgsz": 8},
    ],
)
def test_config_rejects_impossible_ranges(bad: dict) -> None:
    with pytest.raises(ValueError):
        SceneConfig(**bad)


def test_same_generator_state_same_scene() -> None:
    a = render_scene(np.random.default_rng(7), SceneConfig())
    b = render_scene(np.random.default_rng(7), SceneConfig())
    c = render_scene(np.random.default_rng(8), SceneConfig())
    assert np.array_equal(a.image, b.image) and a.annotations == b.annotations
    assert not np.array_equal(a.image, c.image)
