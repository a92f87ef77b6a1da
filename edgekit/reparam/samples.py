"""Real-looking verification inputs and test weights.

Zeros hide fusion errors (a missing bias or a wrong padding can vanish on a constant input),
so verification uses deterministic synthetic images: smooth colour gradients, filled
rectangles and ellipses, a texture and sensor-like noise, in the uint8 range and scaled as
the family's preprocessing does (1/255 for most, 0-255 for DAMO-YOLO).
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from edgekit.contract.model import PreprocessSpec


def synthetic_images(imgsz: Union[int, Tuple[int, int]], batch: int = 2, seed: int = 0) -> np.ndarray:
    """``(batch, H, W, 3)`` uint8 RGB images, the same for the same arguments."""
    h, w = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = yy / max(h - 1, 1), xx / max(w - 1, 1)
    images = np.empty((batch, h, w, 3), np.uint8)
    for b in range(batch):
        img = np.empty((h, w, 3), np.float32)
        for c in range(3):  # background: a gradient in a random direction per channel
            a, d = rng.uniform(-1, 1, 2)
            img[..., c] = rng.uniform(40, 200) + 60 * (a * xx + d * yy)
        for _ in range(int(rng.integers(3, 8))):  # objects: rectangles and ellipses
            cy, cx = rng.uniform(0, 1, 2)
            ry, rx = rng.uniform(0.05, 0.3, 2)
            if rng.random() < 0.5:
                mask = (np.abs(yy - cy) < ry) & (np.abs(xx - cx) < rx)
            else:
                mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
            img[mask] = rng.uniform(0, 255, 3)
        freq = rng.uniform(5, 30)
        img += 12 * np.sin(freq * (xx + yy) * np.pi)[..., None]  # texture
        img += rng.normal(0, 6, img.shape)  # noise
        images[b] = np.clip(img, 0, 255).astype(np.uint8)
    return images


def sample_inputs(
    imgsz: Union[int, Tuple[int, int]],
    preprocess: Optional[PreprocessSpec] = None,
    batch: int = 2,
    seed: int = 0,
) -> torch.Tensor:
    """``(batch, 3, H, W)`` float32 network inputs: synthetic images in the family's channel
    order and scale. With letterbox preprocessing the last image gets padding bands."""
    preprocess = preprocess or PreprocessSpec()
    images = synthetic_images(imgsz, batch, seed)
    if preprocess.resize == "letterbox" and batch > 1:
        band = images.shape[1] // 8
        images[-1, :band] = preprocess.pad_value
        images[-1, images.shape[1] - band :] = preprocess.pad_value
    if preprocess.color.upper() == "BGR":
        images = images[..., ::-1]
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return x * float(preprocess.scale)


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random running statistics and affine parameters in every BatchNorm (in place).

    Default BatchNorm (mean 0, var 1, gamma 1, beta 0) hides eps and fusion errors; every
    equivalence test randomizes them first.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                if m.running_mean is not None:
                    m.running_mean.copy_(torch.randn(n, generator=gen) * 0.5)
                    m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.05)
                if m.weight is not None:
                    m.weight.copy_(torch.randn(n, generator=gen) * 0.5 + 1.0)
                    m.bias.copy_(torch.randn(n, generator=gen) * 0.5)
    return model
