"""Detections.plot()/save() and the label layout of edgekit.decoding.annotate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgekit.decoding import Detections
from edgekit.decoding.annotate import label_rects
from edgekit.errors import EdgekitError, ImageError, InputFileError


def scene(h: int = 240, w: int = 320) -> np.ndarray:
    """A real-looking BGR image: a gradient with a grey square."""
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 90)], axis=2).astype(np.uint8)
    image[60:120, 80:160] = 128
    return image


def dets(boxes, image=None, classes=None) -> Detections:
    n = len(boxes)
    ids = classes if classes is not None else [i % 2 for i in range(n)]
    return Detections(np.array(boxes, float), np.linspace(0.9, 0.5, n), ids, ["person", "car"], image)


def overlap(a, b) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def inside(rect, shape) -> bool:
    return rect[0] >= 0 and rect[1] >= 0 and rect[2] <= shape[1] and rect[3] <= shape[0]


# label layout: pure, no cv2


def test_label_of_a_box_at_the_top_edge_stays_in_the_image() -> None:
    (rect,) = label_rects([[50, 0, 150, 80]], [(60, 14)], (240, 320))
    assert rect == (50, 0, 110, 14)  # inside the box top, not above the image


def test_label_at_the_right_edge_shifts_left() -> None:
    (rect,) = label_rects([[290, 100, 320, 150]], [(60, 14)], (240, 320))
    assert inside(rect, (240, 320)) and rect[2] == 320


def test_labels_of_neighbours_with_identical_tops_do_not_overlap() -> None:
    boxes = [[10, 50, 60, 120], [62, 50, 112, 120], [114, 50, 164, 120]]
    rects = label_rects(boxes, [(90, 14)] * 3, (240, 320))
    assert all(inside(r, (240, 320)) for r in rects)
    assert not any(overlap(rects[i], rects[j]) for i in range(3) for j in range(i + 1, 3))


def test_label_order_gives_the_first_placed_the_preferred_spot() -> None:
    boxes = [[10, 50, 60, 120], [40, 50, 90, 120]]
    first, second = label_rects(boxes, [(80, 14)] * 2, (240, 320), order=[1, 0])
    assert second == (40, 36, 120, 50)  # above its box
    assert not overlap(first, second)


# drawing and writing: need cv2


def test_plot_draws_a_copy_of_the_kept_image() -> None:
    pytest.importorskip("cv2")
    image = scene()
    before = image.copy()
    d = dets([[40, 40, 200, 180]], image)
    out = d.plot()
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(image, before)  # the source is not modified
    assert not np.array_equal(out[40, 40:200], image[40, 40:200])  # top outline
    assert not np.array_equal(out[40:180, 200], image[40:180, 200])  # right outline
    assert np.array_equal(out[120:170, 60:180], image[120:170, 60:180])  # inside, below the label
    assert d[0].image is image and d.filter(min_confidence=0.1).image is image


def test_plot_options_and_explicit_image() -> None:
    pytest.importorskip("cv2")
    image = scene()
    d = dets([[40, 40, 200, 180]])
    boxes_only = d.plot(image, labels=False)
    labelled = d.plot(image)
    assert not np.array_equal(boxes_only, labelled)
    assert not np.array_equal(d.plot(image, conf=False), labelled)
    thick = d.plot(image, labels=False, line_width=6)
    assert (thick != image).any(axis=2).sum() > (boxes_only != image).any(axis=2).sum()
    gray = d.plot(image[:, :, 0])
    assert gray.shape == image.shape


def test_plot_without_an_image_is_a_one_line_error() -> None:
    with pytest.raises(ImageError, match="image=") as info:
        dets([[1, 1, 5, 5]]).plot()
    assert "\n" not in str(info.value)


def test_top_edge_label_is_drawn_inside_the_image() -> None:
    pytest.importorskip("cv2")
    image = np.zeros((100, 200, 3), np.uint8)
    out = dets([[20, 0, 120, 60]], classes=[1]).plot(image, line_width=1)
    # the filled label background sits at the box top, inside the image
    assert (out[2:10, 22:40] != 0).any(axis=2).mean() > 0.5


def test_keep_image_views_rgb_as_bgr() -> None:
    rgb = scene()[:, :, ::-1].copy()
    d = dets([[1, 1, 5, 5]])
    d.keep_image(rgb, "RGB")
    assert np.shares_memory(d.image, rgb) and np.array_equal(d.image, rgb[:, :, ::-1])


def test_save_writes_a_readable_file_atomically(tmp_path: Path) -> None:
    cv2 = pytest.importorskip("cv2")
    image = scene()
    d = dets([[40, 40, 200, 180], [210, 0, 320, 90]], image)
    for name in ("out.png", "sub/out.jpg"):
        path = d.save(tmp_path / name)
        back = cv2.imread(str(path))
        assert back is not None and back.shape == image.shape
    assert np.array_equal(cv2.imread(str(tmp_path / "out.png")), d.plot())
    names = sorted(p.name for p in tmp_path.rglob("*"))
    assert names == ["out.jpg", "out.png", "sub"]  # no temporary file left


@pytest.mark.parametrize("name", ["out.xyz", "noext"])
def test_save_with_an_unsupported_extension_is_a_one_line_error(tmp_path: Path, name: str) -> None:
    pytest.importorskip("cv2")
    path = tmp_path / name
    with pytest.raises(InputFileError) as info:
        dets([[1, 1, 5, 5]], scene()).save(path)
    assert isinstance(info.value, EdgekitError)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_save_into_an_unwritable_place_is_a_one_line_error(tmp_path: Path) -> None:
    pytest.importorskip("cv2")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputFileError) as info:
        dets([[1, 1, 5, 5]], scene()).save(blocker / "out.png")
    assert str(blocker / "out.png") in str(info.value) and "\n" not in str(info.value)


def test_annotate_imports_without_cv2() -> None:
    code = (
        "import sys; sys.modules['cv2'] = None\n"
        "import edgekit.decoding.annotate as a\n"
        "print(a.label_rects([[0, 0, 9, 9]], [(4, 4)], (20, 20)))\n"
        "assert 'cv2' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_detector_results_keep_their_source_image(tmp_path: Path) -> None:
    from edgekit.detector import Detector

    from ..conftest import need

    need("onnxruntime")
    from ..runtimes.tiny import write_tiny_bundle

    image = np.tile(np.array([0, 0, 255], np.uint8), (64, 128, 1))
    with Detector(write_tiny_bundle(tmp_path / "tiny.edgekit"), threads=1) as det:
        result = det(image)
        assert len(result) and result.image is image
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        kept = det(rgb, color="RGB").image
        assert np.shares_memory(kept, rgb) and np.array_equal(kept, image)
        pytest.importorskip("cv2")
        out = result.plot()
        assert out.shape == image.shape and not np.array_equal(out, image)
        assert result.save(tmp_path / "out.png").is_file()


def test_masks_keypoints_and_rotated_boxes_are_drawn() -> None:
    pytest.importorskip("cv2")
    from edgekit.decoding.annotate import color_for, draw

    image = np.zeros((100, 120, 3), np.uint8)
    masks = np.zeros((1, 100, 120), bool)
    masks[0, 20:40, 30:60] = True
    det = Detections(np.array([[30, 20, 60, 40]]), [0.9], [0], ("a",), masks=masks)
    out = draw(image, det, labels=False)
    inside, outside = out[30, 45], out[60, 100]
    assert inside.any() and not outside.any()  # the mask is tinted, the rest untouched
    assert np.allclose(inside, np.asarray(color_for(0)) * 0.4, atol=1)
    points = np.zeros((1, 17, 3), np.float32)
    points[0, :, 0], points[0, :, 1], points[0, :, 2] = np.linspace(10, 100, 17), 50, 1.0
    points[0, 3, 1:] = 80, 0.1  # not visible: neither it nor its bones are drawn
    out = draw(image, Detections(np.array([[5, 5, 110, 95]]), [0.9], [1], keypoints=points), labels=False)
    assert out[50, int(round(points[0, 0, 0]))].any() and not out[75:85, 20:35].any()
    tilted = np.array([[60, 50, 60, 20, np.pi / 4]], np.float32)
    out = draw(image, Detections(np.array([[0, 0, 1, 1]]), [0.9], [2], xywhr=tilted), labels=False)
    assert not out[0, 0].any()  # the axis-aligned box is not drawn for a rotated one
    from edgekit.decoding.rotated import corners

    x, y = np.round(corners(tilted)[0, 0]).astype(int)
    assert out[y, x].any()
