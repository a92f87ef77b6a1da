from __future__ import annotations

import numpy as np
import pytest

from edgekit.bundle.manifest import InputSpec, Preprocess, Quantization
from edgekit.decoding import Preprocessor, images
from edgekit.decoding.preprocess import _resize_numpy
from edgekit.errors import ImageError


def make(resize: str = "letterbox", h: int = 640, w: int = 640, **kw) -> Preprocessor:
    return Preprocessor(Preprocess(resize=resize, **kw), InputSpec("images", h, w))


def test_letterbox_geometry_matches_hand_computation() -> None:
    pre = make()
    img = np.zeros((720, 1280, 3), np.uint8)
    x, geo = pre(img)
    assert x.shape == (1, 3, 640, 640) and x.dtype == np.float32
    assert geo.gain_x == pytest.approx(0.5) and geo.pad_x == 0 and geo.pad_y == 140
    # the padded rows hold the pad value, scaled
    assert x[0, :, :140].max() == pytest.approx(114 / 255) and x[0, :, 140:500].max() == 0
    back = geo.to_original(np.array([[10, 150, 110, 250]], np.float32))
    np.testing.assert_allclose(back, [[20, 20, 220, 220]])


def test_rectangular_input_and_stretch() -> None:
    pre = make("stretch", h=384, w=640, pad_value=0, scale=1.0)
    img = np.full((100, 200, 3), 7, np.uint8)
    x, geo = pre(img)
    assert x.shape == (1, 3, 384, 640) and float(x.max()) == 7.0
    np.testing.assert_allclose(geo.to_original(np.array([[0, 0, 640, 384]], np.float32)), [[0, 0, 200, 100]])


def test_color_order_and_scale_follow_the_manifest() -> None:
    img = np.zeros((64, 64, 3), np.uint8)
    img[..., 0] = 200  # blue in BGR
    rgb = make(h=64, w=64)(img)[0].copy()
    bgr = make(h=64, w=64, color="BGR")(img)[0].copy()
    assert rgb[0, 2].mean() == pytest.approx(200 / 255) and rgb[0, 0].max() == 0
    assert bgr[0, 0].mean() == pytest.approx(200 / 255)
    raw = make(h=64, w=64, scale=1.0)(img)[0]
    assert raw[0, 2].mean() == pytest.approx(200)


def test_boxes_are_clipped_to_the_original_image() -> None:
    _, geo = make()(np.zeros((100, 50, 3), np.uint8))
    out = geo.to_original(np.array([[-50, -50, 700, 700]], np.float32))
    np.testing.assert_allclose(out, [[0, 0, 50, 100]])


def test_buffers_are_reused() -> None:
    pre = make(h=32, w=32)
    a, _ = pre(np.zeros((10, 20, 3), np.uint8))
    b, _ = pre(np.full((10, 20, 3), 255, np.uint8))
    assert a is b and float(b.min()) == pytest.approx(114 / 255)


def test_int8_input_is_quantized() -> None:
    pre = Preprocessor(
        Preprocess(), InputSpec("images", 8, 8, dtype="int8", quantization=Quantization(1 / 255, -128))
    )
    x, _ = pre(np.full((8, 8, 3), 255, np.uint8))
    assert x.dtype == np.int8 and int(x.max()) == 127


@pytest.mark.parametrize("dtype, zero", [("int8", -128), ("uint8", 0)])
@pytest.mark.parametrize("color", ["BGR", "RGB"])
@pytest.mark.parametrize("size", [(30, 70), (70, 30)])  # full-width region (split in place) / side bands
def test_integer_input_shift_equals_quantizing_the_float_input(
    dtype: str, zero: int, color: str, size: tuple
) -> None:
    from edgekit.decoding.preprocess import is_pixel_shift, quantize

    q = Quantization(1 / 255, zero)
    pre = Preprocessor(Preprocess(), InputSpec("images", 48, 64, dtype=dtype, quantization=q))
    ref = Preprocessor(Preprocess(), InputSpec("images", 48, 64))
    assert pre._shift and is_pixel_shift(q, np.dtype(dtype), 1 / 255)
    assert not is_pixel_shift(Quantization(1 / 200, zero), np.dtype(dtype), 1 / 255)
    image = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    for _ in range(2):  # the second call reuses the letterbox bands
        x, geo = pre(image, color=color)
        f, geo_f = ref(image, color=color)
        assert x.dtype == np.dtype(dtype) and (geo.pad_x, geo.pad_y) == (geo_f.pad_x, geo_f.pad_y)
        np.testing.assert_array_equal(x, quantize(f, q, np.dtype(dtype)))


@pytest.mark.parametrize(
    "image, shape",
    [
        (np.zeros((20, 30), np.uint8), (20, 30, 3)),  # grayscale
        (np.zeros((20, 30, 1), np.uint8), (20, 30, 3)),
        (np.zeros((20, 30, 4), np.uint8), (20, 30, 3)),  # RGBA / BGRA
        (np.full((20, 30, 3), 65535, np.uint16), (20, 30, 3)),  # 16-bit
        (np.ones((20, 30, 3), np.float32), (20, 30, 3)),  # float 0..1
        (np.zeros((1, 1, 3), np.uint8), (1, 1, 3)),
    ],
)
def test_odd_images_are_normalised(image: np.ndarray, shape: tuple) -> None:
    out = images.to_bgr8(image)
    assert out.shape == shape and out.dtype == np.uint8
    x, _ = make(h=64, w=64)(image)
    assert np.isfinite(x).all()


def test_sixteen_bit_keeps_its_brightness() -> None:
    assert images.to_bgr8(np.full((2, 2, 3), 65535, np.uint16)).min() == 255


@pytest.mark.parametrize(
    "image", [np.zeros((0, 10, 3), np.uint8), np.zeros((5, 5, 2), np.uint8), np.zeros(5)]
)
def test_unusable_images_are_refused(image: np.ndarray) -> None:
    with pytest.raises(ImageError):
        make(h=32, w=32)(image)


def test_numpy_resize_matches_opencv() -> None:
    cv2 = pytest.importorskip("cv2", reason="reference needs OpenCV")
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    ours = _resize_numpy(img, 80, 61).astype(int)
    ref = cv2.resize(img, (80, 61), interpolation=cv2.INTER_LINEAR).astype(int)
    assert np.abs(ours - ref).max() <= 1


@pytest.mark.parametrize("color", ["RGB", "BGR"])
def test_opencv_and_numpy_conversions_agree(color: str) -> None:
    pytest.importorskip("cv2", reason="compares the OpenCV path with the numpy one")
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)  # letterboxed into 64x80: bands, no resize
    with_cv2 = make(h=64, w=80, color=color)
    without = make(h=64, w=80, color=color)
    without._cv2 = None
    a, geo_a = with_cv2(image)
    b, geo_b = without(image)
    np.testing.assert_array_equal(a, b)
    assert (geo_a.pad_y, geo_b.pad_y) == (8.0, 8.0)


# (original h, w), fit, canvas (h, w) -> resized (w, h), top, left: printed by ultralytics 8.4.190's
# BaseDataset.load_image rule (long side to imgsz, ceil) + LetterBox(scaleup=False) with that rect_shape
ULTRALYTICS_VAL_LETTERBOX = [
    ((320, 320), 320, (352, 352), (320, 320), 16, 16),
    ((479, 641), 320, (256, 352), (320, 240), 8, 16),
    ((720, 1280), 640, (384, 672), (640, 360), 12, 16),
    ((100, 50), 320, (352, 352), (160, 320), 16, 96),
    ((600, 800), 640, (320, 320), (320, 240), 40, 0),
]


@pytest.mark.parametrize("shape, fit, canvas, resized, top, left", ULTRALYTICS_VAL_LETTERBOX)
def test_fit_places_images_as_ultralytics_val(shape, fit, canvas, resized, top, left) -> None:
    pre = Preprocessor(Preprocess(), InputSpec("images", *canvas), fit=fit)
    x, geo = pre(np.full((*shape, 3), 200, np.uint8))
    w, h = resized
    assert (geo.pad_x, geo.pad_y) == (left, top)
    assert geo.gain_x == pytest.approx(w / shape[1]) and geo.gain_y == pytest.approx(h / shape[0])
    region = x[0, :, top : top + h, left : left + w]
    assert region.min() == pytest.approx(200 / 255)  # the image, unscaled beyond fit, inside the pad
    assert np.isclose(x[0], 200 / 255).all(axis=0).sum() == w * h  # and nowhere else


def test_without_fit_the_image_fills_the_input() -> None:
    _, geo = Preprocessor(Preprocess(), InputSpec("images", 352, 352))(np.zeros((320, 320, 3), np.uint8))
    assert geo.gain_x == pytest.approx(1.1) and geo.pad_x == 0
