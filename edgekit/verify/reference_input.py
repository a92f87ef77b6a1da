"""The reference network input of an image, written plainly from the family's preprocessing facts.

A bundle's ``Preprocessor`` is tuned for speed (letterbox bands kept between frames, integer inputs
written by a bit shift, planes split by OpenCV) and reads its parameters from the manifest. This
module computes the same input the slow, obvious way from the *family's* facts (``ModelInfo``), so a
wrong pad value, colour order, scale or letterbox placement in the manifest, or a fast path that
drifts, shows up as a difference in the network's input, before any model runs.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from edgekit.decoding.images import try_cv2
from edgekit.decoding.preprocess import _resize_numpy


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[1] == width and image.shape[0] == height:
        return image
    cv2 = try_cv2()
    if cv2 is not None:
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    return _resize_numpy(image, width, height)


def reference_input(
    image_rgb: np.ndarray,
    size: Tuple[int, int],
    resize: str,
    pad_value: int,
    color: str,
    scale: float,
) -> Tuple[np.ndarray, Tuple[float, float, float, float]]:
    """``(1, 3, H, W)`` float32 input of an RGB uint8 image and its geometry ``(gain_x, gain_y,
    pad_x, pad_y)`` (input = original * gain + pad).

    Letterbox as Ultralytics' ``LetterBox`` (and WongKinYiu's ``letterbox``): scale to fit, round the
    new size, centre with ``round(d - 0.1)`` on the top/left; stretch: resize to the input size.
    """
    height, width = size
    h, w = image_rgb.shape[:2]
    if resize == "stretch":
        new_w, new_h, top, left = width, height, 0, 0
    else:
        gain = min(height / h, width / w)
        new_w, new_h = int(round(w * gain)), int(round(h * gain))
        top, left = int(round((height - new_h) / 2 - 0.1)), int(round((width - new_w) / 2 - 0.1))
    canvas = np.full((height, width, 3), pad_value, np.uint8)
    canvas[top : top + new_h, left : left + new_w] = _resize(image_rgb, new_w, new_h)
    if color.upper() == "BGR":
        canvas = canvas[..., ::-1]
    x = canvas.transpose(2, 0, 1)[None].astype(np.float32) * np.float32(scale)
    return np.ascontiguousarray(x), (new_w / w, new_h / h, float(left), float(top))
