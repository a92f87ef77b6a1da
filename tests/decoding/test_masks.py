"""Instance masks from prototypes: edgekit's one-step, box-only decoding against the peer's method
(every prototype upsampled to the input, the letterbox cut, resized to the image, cropped)."""

from __future__ import annotations

from typing import Tuple

import numpy as np
import pytest

from edgekit.decoding.masks import MaskDecoder, pixel_span, polygons
from edgekit.decoding.preprocess import Geometry

INPUT = (640, 640)


def letterbox(h: int, w: int) -> Geometry:
    gain = min(INPUT[0] / h, INPUT[1] / w)
    nh, nw = round(h * gain), round(w * gain)
    pad_x, pad_y = round((INPUT[1] - nw) / 2 - 0.1), round((INPUT[0] - nh) / 2 - 0.1)
    return Geometry(nw / w, nh / h, pad_x, pad_y, (h, w))


def smooth_protos(seed: int, nm: int = 32) -> np.ndarray:
    torch = pytest.importorskip("torch")
    low = torch.from_numpy(np.random.default_rng(seed).normal(size=(1, nm, 10, 10)).astype(np.float32))
    return torch.nn.functional.interpolate(low, (160, 160), mode="bicubic")[0].numpy()


def peer_masks(protos: np.ndarray, coeffs: np.ndarray, boxes: np.ndarray, geo: Geometry) -> np.ndarray:
    """The peer's published method, in torch: logits upsampled to the input, padding cut, resized to
    the image, thresholded at 0, cropped to each box (columns x1 <= c < x2)."""
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    h, w = geo.shape
    logits = torch.from_numpy(coeffs @ protos.reshape(len(protos), -1)).view(1, -1, *protos.shape[1:])
    up = f.interpolate(logits, INPUT, mode="bilinear", align_corners=False)
    top, left = int(geo.pad_y), int(geo.pad_x)
    cut = up[:, :, top : INPUT[0] - top, left : INPUT[1] - left]
    masks = (f.interpolate(cut, (h, w), mode="bilinear", align_corners=False)[0] > 0).numpy()
    cols, rows = np.arange(w)[None, None, :], np.arange(h)[None, :, None]
    x1, y1, x2, y2 = (boxes[:, i, None, None] for i in range(4))
    return masks & (cols >= x1) & (cols < x2) & (rows >= y1) & (rows < y2)


def random_boxes(seed: int, n: int, hw: Tuple[int, int]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = hw
    xy = rng.uniform(0, [w - 20, h - 20], (n, 2))
    return np.concatenate([xy, np.minimum(xy + rng.uniform(8, 400, (n, 2)), [w, h])], 1).astype(np.float32)


@pytest.mark.parametrize("hw", [(720, 1280), (480, 480), (1000, 600)])
def test_masks_match_the_peers_method_inside_every_box(hw: Tuple[int, int]) -> None:
    protos, geo = smooth_protos(1), letterbox(*hw)
    boxes = random_boxes(2, 40, hw)
    coeffs = np.random.default_rng(3).normal(size=(40, 32)).astype(np.float32)
    ours = MaskDecoder(protos, INPUT).image_masks(coeffs, boxes, geo)
    ref = peer_masks(protos, coeffs, boxes, geo)
    assert ours.shape == ref.shape == (40, *hw) and ours.dtype == bool
    union = (ours | ref).sum((1, 2))
    iou = (ours & ref).sum((1, 2)) / np.maximum(union, 1)
    assert iou[union > 50].min() > 0.97, iou  # the two samplings differ along edges only
    assert (ours != ref).mean() < 1e-3


def test_numpy_and_opencv_sampling_agree() -> None:
    protos, geo = smooth_protos(4), letterbox(720, 1280)
    boxes = random_boxes(5, 20, (720, 1280))
    coeffs = np.random.default_rng(6).normal(size=(20, 32)).astype(np.float32)
    decoder = MaskDecoder(protos, INPUT)
    if decoder.cv2 is None:
        pytest.skip("OpenCV is not installed: only the numpy path runs here")
    with_cv2 = decoder.image_masks(coeffs, boxes, geo)
    decoder.cv2 = None
    without = decoder.image_masks(coeffs, boxes, geo)
    assert (with_cv2 != without).sum() <= 0.002 * max(with_cv2.sum(), 1)


def test_nothing_outside_the_box_and_empty_boxes_give_empty_masks() -> None:
    protos, geo = smooth_protos(7), letterbox(300, 400)
    boxes = np.array([[10.5, 20.2, 110.7, 90.0], [50, 50, 50, 80], [390, 290, 500, 400]], np.float32)
    coeffs = np.ones((3, 32), np.float32)
    masks = MaskDecoder(np.abs(protos) + 1, INPUT).image_masks(coeffs, boxes, geo)  # logits > 0 everywhere
    ys, xs = np.nonzero(masks[0])
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (11, 110, 21, 89)
    assert not masks[1].any()  # zero width
    assert masks[2].sum() == 10 * 10  # clipped to the image


def test_proto_resolution_masks_follow_the_input_boxes() -> None:
    protos = np.abs(smooth_protos(8)) + 1
    boxes = np.array([[0, 0, 64, 32], [320, 320, 640, 640]], np.float32)  # input pixels
    masks = MaskDecoder(protos, INPUT).proto_masks(np.ones((2, 32), np.float32), boxes)
    assert masks.shape == (2, 160, 160)
    assert masks[0].sum() == 16 * 8 and masks[1].sum() == 80 * 80


def test_pixel_span_is_the_peers_crop() -> None:
    assert pixel_span(10.5, 20.0, 100) == (11, 20)  # 11 <= c < 20
    assert pixel_span(-3, 5.1, 100) == (0, 6) and pixel_span(95, 130, 100) == (95, 100)
    assert pixel_span(50, 40, 100) == (50, 50)


def test_polygons_trace_each_mask() -> None:
    pytest.importorskip("cv2")
    masks = np.zeros((2, 50, 60), bool)
    masks[0, 10:20, 5:25] = True
    (square, empty) = polygons(masks)
    assert empty.shape == (0, 2)
    assert square.min(0).tolist() == [5, 10] and square.max(0).tolist() == [24, 19]


def test_cropped_masks_are_the_same_stack_kept_at_the_boxes() -> None:
    from edgekit.decoding.masks import CroppedMasks

    protos, geo = smooth_protos(9), letterbox(720, 1280)
    boxes = random_boxes(10, 12, (720, 1280))
    boxes[3] = [500, 300, 500, 340]  # an empty box
    coeffs = np.random.default_rng(11).normal(size=(12, 32)).astype(np.float32)
    decoder = MaskDecoder(protos, INPUT)
    cropped, dense = decoder.crops(coeffs, boxes, geo), decoder.image_masks(coeffs, boxes, geo)
    assert isinstance(cropped, CroppedMasks) and cropped.shape == dense.shape and cropped.dtype == bool
    assert np.array_equal(np.asarray(cropped), dense) and len(cropped) == 12
    assert np.array_equal(cropped[5], dense[5]) and np.array_equal(cropped.areas(), dense.sum((1, 2)))
    picked = cropped[np.array([True, False] * 6)]
    assert isinstance(picked, CroppedMasks) and np.array_equal(np.asarray(picked), dense[::2])
    assert [m.sum() for m in cropped[2:4]] == [dense[2].sum(), dense[3].sum()] and dense[3].sum() == 0
