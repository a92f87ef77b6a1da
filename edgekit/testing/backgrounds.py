"""Natural-looking procedural backgrounds for the synthetic shapes dataset.

Every function takes a ``numpy.random.Generator`` and returns a float32 RGB image in
``[0, 1]`` of shape ``(h, w, 3)``; the same generator state gives the same pixels. The
kinds: fractal value noise through a colour palette (clouds, terrain, foliage), linear
and radial gradients, stripes perturbed by noise (wood, marble), tiles and checkers,
sinusoid plasma, blurred colour noise (sand, gravel), Voronoi cells (cobblestones) and,
where the caller gives a folder of photos, random crops of real photos.
"""

from __future__ import annotations

import colorsys
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from edgekit._optional import require

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@lru_cache(maxsize=1)
def _cv2() -> Any:  # the cv2 module
    return require("cv2", reason="the synthetic dataset generator draws with OpenCV")


def random_color(rng: np.random.Generator, sat: Sequence[float] = (0.0, 1.0), val=(0.1, 1.0)) -> np.ndarray:
    """A random RGB colour in ``[0, 1]`` drawn in HSV space."""
    h = rng.random()
    s = rng.uniform(*sat)
    v = rng.uniform(*val)
    return np.array(colorsys.hsv_to_rgb(h, s, v), dtype=np.float32)


def palette(rng: np.random.Generator, t: np.ndarray, stops: int = 0) -> np.ndarray:
    """Map ``t`` in ``[0, 1]`` (h, w) through a random palette of 2-4 related colours."""
    stops = stops or int(rng.integers(2, 5))
    base = random_color(rng, sat=(0.1, 0.8), val=(0.2, 0.95))
    colors = [base]
    for _ in range(stops - 1):  # neighbours of the base colour: natural scenes are not rainbows
        jitter = rng.normal(0.0, 0.25, 3).astype(np.float32)
        colors.append(np.clip(colors[-1] * rng.uniform(0.6, 1.4) + jitter, 0.0, 1.0))
    pos = np.linspace(0.0, 1.0, stops)
    levels = np.linspace(0.0, 1.0, 1024)
    lut = np.stack([np.interp(levels, pos, [col[c] for col in colors]) for c in range(3)], axis=1)
    return np.take(lut.astype(np.float32), np.clip(t * 1023 + 0.5, 0, 1023).astype(np.int32), axis=0)


def _normalize(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return ((x - lo) / (hi - lo + 1e-6)).astype(np.float32)


def value_noise(rng: np.random.Generator, h: int, w: int, cells: int = 4, octaves: int = 4) -> np.ndarray:
    """Fractal value noise in ``[0, 1]``: random grids upsampled bicubically, summed over octaves."""
    cv2 = _cv2()
    out = np.zeros((h, w), np.float32)
    amp, persistence = 1.0, rng.uniform(0.4, 0.65)
    for octave in range(octaves):
        n = cells * 2**octave + 1
        grid = rng.random((n, n), dtype=np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        amp *= persistence
    return _normalize(out)


@lru_cache(maxsize=8)
def grid(h: int, w: int) -> np.ndarray:
    """``(2, h, w)`` float32 pixel coordinates ``(y, x)`` (cached, read-only)."""
    out = np.mgrid[0:h, 0:w].astype(np.float32)
    out.setflags(write=False)
    return out


def _coords(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Pixel coordinates projected on a random direction, scaled to ``[0, 1]``-ish."""
    theta = rng.uniform(0, np.pi)
    yy, xx = grid(h, w)
    return (xx * np.float32(np.cos(theta) / max(h, w))) + yy * np.float32(np.sin(theta) / max(h, w))


def noise_palette(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    t = value_noise(rng, h, w, cells=int(rng.integers(2, 7)), octaves=int(rng.integers(3, 6)))
    return palette(rng, t)


def gradient(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    if rng.random() < 0.5:
        t = _normalize(_coords(rng, h, w))
    else:  # radial, centred anywhere (also off-image)
        cy, cx = rng.uniform(-0.3, 1.3, 2) * (h, w)
        yy, xx = grid(h, w)
        t = _normalize(np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2))
    t = np.clip(t + 0.08 * (value_noise(rng, h, w, cells=3, octaves=3) - 0.5), 0, 1)
    return palette(rng, t, stops=int(rng.integers(2, 4)))


def stripes(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    freq = rng.uniform(3, 30)
    turbulence = rng.uniform(0.0, 6.0)
    phase = 2 * np.pi * freq * _coords(rng, h, w) + turbulence * value_noise(rng, h, w, 3, 4)
    t = 0.5 + 0.5 * np.sin(phase)
    if rng.random() < 0.4:  # hard-edged stripes
        t = (t > rng.uniform(0.3, 0.7)).astype(np.float32)
    return palette(rng, t.astype(np.float32), stops=2)


def checker(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    cv2 = _cv2()
    cell = rng.uniform(8, 64)
    theta = rng.uniform(0, np.pi / 2)
    yy, xx = grid(h, w)
    u = (xx * np.cos(theta) + yy * np.sin(theta)) / cell
    v = (-xx * np.sin(theta) + yy * np.cos(theta)) / cell
    t = ((np.floor(u) + np.floor(v)) % 2).astype(np.float32)
    if rng.random() < 0.5:  # tiles with grout lines instead of a checker
        grout = rng.uniform(0.04, 0.12)
        t = ((np.abs(u - np.round(u)) < grout) | (np.abs(v - np.round(v)) < grout)).astype(np.float32)
    t = cv2.GaussianBlur(t, (0, 0), rng.uniform(0.5, 2.0))
    t = np.clip(t + 0.15 * (value_noise(rng, h, w, 4, 4) - 0.5), 0, 1)
    return palette(rng, t, stops=2)


def plasma(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    t = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(3, 6))):
        t += np.sin(2 * np.pi * rng.uniform(0.5, 6) * _coords(rng, h, w) + rng.uniform(0, 2 * np.pi))
    return palette(rng, _normalize(t))


def blurred_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    cv2 = _cv2()
    noise = rng.random((h, w, 3), dtype=np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), rng.uniform(1.0, 4.0))
    base = random_color(rng, sat=(0.0, 0.6), val=(0.3, 0.9))
    amount = rng.uniform(0.2, 0.6)
    return np.clip(base + amount * (_normalize(noise) - 0.5), 0, 1)


def cells(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Voronoi cells (cobblestones, cracked earth) with darker borders."""
    cv2 = _cv2()
    n = int(rng.integers(15, 120))
    seeds = np.ones((h, w), np.uint8)
    seeds[rng.integers(0, h, n), rng.integers(0, w, n)] = 0
    _, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_CCOMP)
    shade = rng.random(int(labels.max()) + 1).astype(np.float32)
    t = shade[labels]
    edges = cv2.Laplacian(labels.astype(np.float32), cv2.CV_32F) != 0
    t = np.where(cv2.dilate(edges.astype(np.uint8), np.ones((2, 2), np.uint8)) > 0, 0.0, t)
    t = np.clip(t + 0.2 * (value_noise(rng, h, w, 5, 3) - 0.5), 0, 1)
    return palette(rng, cv2.GaussianBlur(t, (0, 0), 0.7))


class PhotoSource:
    """Random crops of the photos in a folder (sorted, so the choice is deterministic)."""

    def __init__(self, folder: Path) -> None:
        self.paths: List[Path] = sorted(
            p for p in Path(folder).rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES
        )
        self._cache: Dict[Path, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def __call__(self, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        cv2 = _cv2()
        path = self.paths[int(rng.integers(len(self.paths)))]
        if path not in self._cache:
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f"{path}: not a readable image")
            self._cache[path] = img[..., ::-1].astype(np.float32) / 255.0
        img = self._cache[path]
        scale = max(h / img.shape[0], w / img.shape[1]) * rng.uniform(1.0, 2.0)
        img = cv2.resize(img, (max(w, round(img.shape[1] * scale)), max(h, round(img.shape[0] * scale))))
        y = int(rng.integers(0, img.shape[0] - h + 1))
        x = int(rng.integers(0, img.shape[1] - w + 1))
        crop = img[y : y + h, x : x + w]
        return np.ascontiguousarray(crop[:, ::-1] if rng.random() < 0.5 else crop)


Kind = Callable[[np.random.Generator, int, int], np.ndarray]
KINDS: Dict[str, Kind] = {
    "noise": noise_palette,
    "gradient": gradient,
    "stripes": stripes,
    "checker": checker,
    "plasma": plasma,
    "blurred_noise": blurred_noise,
    "cells": cells,
}
SMOOTH = (noise_palette, gradient, plasma)  # drawn at half resolution and upscaled: same look, 4x less work


def _draw(kind: Kind, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    if kind in SMOOTH:
        return _cv2().resize(kind(rng, (h + 1) // 2, (w + 1) // 2), (w, h), interpolation=_cv2().INTER_LINEAR)
    return kind(rng, h, w)


def _smooth_field(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Low-frequency value noise, drawn at a quarter of the resolution."""
    field = value_noise(rng, (h + 3) // 4, (w + 3) // 4, cells=cells, octaves=3)
    return _cv2().resize(field, (w, h), interpolation=_cv2().INTER_LINEAR)


def background(rng: np.random.Generator, h: int, w: int, photos: Optional[PhotoSource] = None) -> np.ndarray:
    """One background: a random kind, sometimes two blended through a noise mask, under uneven light."""
    kinds: List[Kind] = list(KINDS.values())
    if photos is not None and len(photos):
        kinds += [photos] * len(kinds)  # half of the backgrounds are photos when some are given
    img = _draw(kinds[int(rng.integers(len(kinds)))], rng, h, w)
    if rng.random() < 0.35:
        other = _draw(kinds[int(rng.integers(len(kinds)))], rng, h, w)
        mask = _smooth_field(rng, h, w, cells=2)[..., None]
        mask = np.clip((mask - 0.5) * rng.uniform(2, 8) + 0.5, 0, 1)
        img = img * mask + other * (1 - mask)
    light = 0.75 + 0.45 * _smooth_field(rng, h, w, cells=1)
    return np.clip(img * light[..., None], 0, 1).astype(np.float32)
