"""Synthetic verification images: deterministic, real-looking, scaled as the family expects."""

from __future__ import annotations

import numpy as np
import torch

from edgekit.contract.model import PreprocessSpec
from edgekit.reparam.samples import randomize_batchnorm, sample_inputs, synthetic_images


def test_images_are_deterministic_and_not_flat() -> None:
    a, b = synthetic_images((48, 64), 2, seed=0), synthetic_images((48, 64), 2, seed=0)
    c = synthetic_images((48, 64), 2, seed=1)
    assert a.shape == (2, 48, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not np.array_equal(a[0], a[1])
    for img in a:
        assert img.std() > 20 and img.min() < 60 and img.max() > 180  # contrast, edges, range
        assert len(np.unique(img.reshape(-1, 3), axis=0)) > 1000


def test_inputs_follow_the_preprocess_spec() -> None:
    ultra = sample_inputs(32, PreprocessSpec(), batch=2)
    damo = sample_inputs(32, PreprocessSpec(resize="stretch", scale=1.0), batch=2)
    assert ultra.shape == (2, 3, 32, 32) and ultra.dtype == torch.float32
    assert float(ultra.min()) >= 0 and float(ultra.max()) <= 1.0
    assert float(damo.max()) > 100  # DAMO-YOLO: 0-255, no /255
    band = ultra[-1, :, :4]  # letterbox: the last image has padding bands of pad_value
    assert torch.allclose(band, torch.full_like(band, 114 / 255))
    assert not torch.allclose(damo[-1, :, :4], torch.full_like(damo[-1, :, :4], 114.0))
    bgr = sample_inputs(32, PreprocessSpec(color="BGR"), batch=2)
    assert torch.equal(bgr, ultra.flip(1))


def test_randomize_batchnorm_moves_every_statistic() -> None:
    bn = torch.nn.BatchNorm2d(8)
    randomize_batchnorm(torch.nn.Sequential(bn), seed=0)
    for t, default in ((bn.running_mean, 0.0), (bn.running_var, 1.0), (bn.weight, 1.0), (bn.bias, 0.0)):
        assert not torch.allclose(t, torch.full_like(t, default))
    assert float(bn.running_var.min()) > 0
