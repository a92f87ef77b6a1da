"""Loading and normalising input images (any cv2 that imports; PIL as a fallback)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from edgekit.errors import ImageError, InputFileError, MissingDependencyError


def try_cv2() -> Optional[Any]:
    """The ``cv2`` that imports here (a system OpenCV included), or None."""
    try:
        return importlib.import_module("cv2")
    except ImportError:
        return None


def load_image(path: Union[str, Path]) -> np.ndarray:
    """Read an image file as HxWx3 uint8 BGR (OpenCV's convention)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such image file")
    cv2 = try_cv2()
    if cv2 is not None:
        data = np.fromfile(str(path), dtype=np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
        if image is None:
            raise InputFileError(path, "not a readable image")
        return to_bgr8(image, str(path), cv2_module=cv2)
    try:
        from PIL import Image
    except ImportError:
        raise MissingDependencyError("cv2", "cv", "needed to read image files") from None
    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for bad files
        raise InputFileError(path, f"not a readable image ({type(exc).__name__})") from None
    return np.ascontiguousarray(rgb[..., ::-1])


def to_bgr8(image: Any, where: str = "image", cv2_module: Optional[Any] = None) -> np.ndarray:
    """Normalise an array image to HxWx3 uint8: gray -> 3 channels, alpha dropped, 16-bit/float scaled."""
    image = np.asarray(image)
    if image.size == 0 or image.ndim not in (2, 3):
        raise ImageError(f"{where}: empty or not an image (shape {image.shape})")
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        raise ImageError(f"{where}: {image.shape[2]} channels; expected 1, 3 or 4")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype.kind == "f":
        peak = float(np.nanmax(image)) if image.size else 0.0
        image = np.clip(np.nan_to_num(image) * (255.0 if peak <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageError(f"{where}: unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    if image.shape[2] == 4:
        return np.ascontiguousarray(image[:, :, :3])
    return image
