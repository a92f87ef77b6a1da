"""Image -> network input, exactly as the manifest says (letterbox or stretch, colour, scale)."""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np

from edgekit.bundle.manifest import InputSpec, Preprocess, Quantization
from edgekit.decoding.images import to_bgr8, try_cv2


class Geometry:
    """How an original image maps into the network input: ``input = original * gain + pad``."""

    __slots__ = ("gain_x", "gain_y", "pad_x", "pad_y", "shape")

    def __init__(
        self, gain_x: float, gain_y: float, pad_x: float, pad_y: float, shape: Tuple[int, int]
    ) -> None:
        self.gain_x, self.gain_y, self.pad_x, self.pad_y = gain_x, gain_y, pad_x, pad_y
        self.shape = shape  # original (height, width)

    def to_original(self, xyxy: np.ndarray) -> np.ndarray:
        """Map (N, 4) input-pixel boxes back to the original image, clipped to it."""
        h, w = self.shape
        # three whole-array calls: each numpy call right after an inference costs far more than its
        # arithmetic (cold caches), so fewer calls beat strided column updates
        out = np.subtract(xyxy, np.array((self.pad_x, self.pad_y) * 2, np.float32), dtype=np.float32)
        np.divide(out, np.array((self.gain_x, self.gain_y) * 2, np.float32), out=out)
        return np.clip(out, 0, np.array((w, h, w, h), np.float32), out=out)


def _resize_numpy(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize (half-pixel centres, as cv2.INTER_LINEAR) for hosts without OpenCV."""
    h, w = image.shape[:2]
    ys = np.clip((np.arange(height) + 0.5) * (h / height) - 0.5, 0, h - 1)
    xs = np.clip((np.arange(width) + 0.5) * (w / width) - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    img = image.astype(np.float32)
    top = img[y0][:, x0] * (1 - wx) + img[y0][:, x1] * wx
    bottom = img[y1][:, x0] * (1 - wx) + img[y1][:, x1] * wx
    return np.clip(top * (1 - wy) + bottom * wy + 0.5, 0, 255).astype(np.uint8)


def quantize(real: np.ndarray, q: Quantization, dtype: np.dtype) -> np.ndarray:
    """Float values -> integers of ``dtype``: round(real / scale) + zero_point, clipped."""
    info = np.iinfo(dtype)
    return np.clip(np.round(real / np.float32(q.scale)) + q.zero_point, info.min, info.max).astype(dtype)


def dequantize(x: np.ndarray, q: Quantization) -> np.ndarray:
    """Integers -> float32 values: (x - zero_point) * scale."""
    return (x.astype(np.float32) - q.zero_point) * np.float32(q.scale)


def is_pixel_shift(q: Optional[Quantization], dtype: np.dtype, pixel_scale: float) -> bool:
    """True when quantizing scaled pixels is an exact shift: scale = pixel scale, and the zero point
    moves 0..255 onto the integer range (int8: -128; uint8: 0). Then int8 = pixel XOR 0x80."""
    if q is None or not np.isclose(q.scale, pixel_scale, rtol=1e-5, atol=0):
        return False
    return (dtype == np.int8 and q.zero_point == -128) or (dtype == np.uint8 and q.zero_point == 0)


def fit_size(w: int, h: int, fit: int, height: int, width: int) -> Tuple[int, int]:
    """(width, height) of a ``w`` x ``h`` image under Ultralytics' validation rule: its long side
    resized to ``fit`` (``BaseDataset.load_image``: ceil, capped at ``fit``), then letterboxed into
    ``width`` x ``height`` without scaling up (``LetterBox(scaleup=False)``: smaller only if it
    does not fit). Done as one resize here (two there, when the canvas is smaller than ``fit``)."""
    r = fit / max(h, w)
    if r != 1:
        w, h = min(math.ceil(w * r), fit), min(math.ceil(h * r), fit)
    gain = min(height / h, width / w, 1.0)
    return max(1, int(round(w * gain))), max(1, int(round(h * gain)))


class Preprocessor:
    """Reusable preprocessing for one input spec; keeps its canvas and input buffers between calls.

    ``fit`` (letterbox only): scale each image so its long side is ``fit`` pixels, then pad it into
    the input without scaling (``fit_size``): how ``yolo val imgsz=fit`` feeds its rectangular
    batches, for an input larger than ``fit``. ``None`` (default): the image fills the input.
    """

    def __init__(self, spec: Preprocess, inp: InputSpec, fit: Optional[int] = None) -> None:
        self.spec = spec
        self.inp = inp
        self.fit = fit
        self.height, self.width = inp.height, inp.width
        self._cv2 = try_cv2()
        self._canvas = np.full((self.height, self.width, 3), spec.pad_value, dtype=np.uint8)  # pad only
        self._bands: Optional[Tuple[int, int, int, int]] = None  # letterbox geometry the buffer holds
        dtype = np.float16 if inp.dtype == "float16" else np.float32
        if inp.dtype in ("uint8", "int8"):
            dtype = np.dtype(inp.dtype)
        shape = (1, 3, self.height, self.width) if inp.layout == "NCHW" else (1, self.height, self.width, 3)
        self._input = np.empty(shape, dtype=dtype)
        self._shift = is_pixel_shift(inp.quantization, np.dtype(dtype), spec.scale)
        self._scratch: Optional[np.ndarray] = None  # colour planes of the resized image (cv2.split)

    def _resize(self, image: np.ndarray, width: int, height: int) -> np.ndarray:
        if image.shape[1] == width and image.shape[0] == height:
            return image
        if self._cv2 is not None:  # bilinear, as the families' own letterbox/resize (and the numpy path)
            return self._cv2.resize(image, (width, height), interpolation=self._cv2.INTER_LINEAR)
        return _resize_numpy(image, width, height)

    def _split(self, pixels: np.ndarray, dst: Optional[np.ndarray] = None) -> Tuple[List[np.ndarray], bool]:
        """The three colour planes of HxWx3 ``pixels`` by ``cv2.split``, and whether they were written
        straight into ``dst``'s planes (possible when those are contiguous: a full-width letterbox
        region); else they are in a kept scratch buffer. Never fresh arrays: three new 0.2 MB planes
        per frame cost more than the split itself.
        """
        direct = dst is not None and dst.dtype.itemsize == 1 and all(p.flags.c_contiguous for p in dst)
        if direct:
            planes = [p.view(np.uint8) for p in dst]  # type: ignore[union-attr]
        else:
            shape = (3, *pixels.shape[:2])
            if self._scratch is None or self._scratch.shape != shape:
                self._scratch = np.empty(shape, np.uint8)
            planes = list(self._scratch)
        written = self._cv2.split(pixels, planes)
        if any(a is not b for a, b in zip(written, planes)):  # an OpenCV that allocated new planes
            planes, direct = list(written), False
        return planes, direct

    def _convert(self, pixels: np.ndarray, dst: np.ndarray, flip: bool = False) -> None:
        """HxWx3 uint8 pixels -> ``dst`` in the input's layout, scale and dtype (``flip``: swap R and B)."""
        q = self.inp.quantization
        if self._shift and self.inp.layout == "NCHW":  # integer input, exact: no float image at all
            if self._cv2 is None:
                planes, direct = list(pixels.transpose(2, 0, 1)), False
            else:
                planes, direct = self._split(pixels, dst[::-1] if flip else dst)
            if not direct:  # planes elsewhere (no OpenCV, or a scratch buffer): copy them over
                for c, plane in enumerate(planes[::-1] if flip else planes):
                    np.copyto(dst[c].view(np.uint8), plane)
            if dst.dtype == np.int8:
                np.bitwise_xor(dst.view(np.uint8), np.uint8(0x80), out=dst.view(np.uint8))
            return
        if self._cv2 is not None and q is None and self.inp.layout == "NCHW":
            # contiguous planes convert ~2x faster than a strided copy
            planes, _ = self._split(pixels)
            for c, plane in enumerate(planes[::-1] if flip else planes):
                np.multiply(plane, np.float32(self.spec.scale), out=dst[c], casting="unsafe")
            return
        pixels = pixels[..., ::-1] if flip else pixels
        src = pixels.transpose(2, 0, 1) if self.inp.layout == "NCHW" else pixels
        if q is not None:  # integer input: quantize the scaled pixels
            np.copyto(dst, quantize(src.astype(np.float32) * np.float32(self.spec.scale), q, dst.dtype))
        elif self.spec.scale == 1.0:
            np.copyto(dst, src, casting="unsafe")
        else:
            np.multiply(src, np.float32(self.spec.scale), out=dst, casting="unsafe")

    def _region(self, target: np.ndarray, top: int, left: int, h: int, w: int) -> np.ndarray:
        if self.inp.layout == "NCHW":
            return target[:, top : top + h, left : left + w]
        return target[top : top + h, left : left + w]

    def __call__(self, image: np.ndarray, color: str = "BGR", out: Optional[np.ndarray] = None):
        """HxWxC image (``color`` order of the given array) -> (input tensor, Geometry).

        The returned tensor is an internal buffer, overwritten by the next call; pass ``out``
        (one batch row) to write somewhere else. Only the resized image is converted; the
        letterbox bands are written when the geometry changes (or into a new ``out``).
        """
        image = to_bgr8(image, cv2_module=self._cv2)
        h, w = image.shape[:2]
        target = self._input[0] if out is None else out
        if self.spec.resize == "stretch":
            new_w, new_h, top, left = self.width, self.height, 0, 0
        else:
            if self.fit:
                new_w, new_h = fit_size(w, h, self.fit, self.height, self.width)
            else:
                gain = min(self.height / h, self.width / w)
                new_w, new_h = max(1, int(round(w * gain))), max(1, int(round(h * gain)))
            top = int(round((self.height - new_h) / 2 - 0.1))
            left = int(round((self.width - new_w) / 2 - 0.1))
            key = (new_w, new_h, top, left)
            if out is not None or key != self._bands:
                self._convert(self._canvas, target)  # the pad value, in the network's domain
                self._bands = None if out is not None else key
        resized = self._resize(image, new_w, new_h)
        flip = color.upper() != self.spec.color
        self._convert(resized, self._region(target, top, left, new_h, new_w), flip)
        geometry = Geometry(new_w / w, new_h / h, float(left), float(top), (h, w))
        return (self._input if out is None else out), geometry
