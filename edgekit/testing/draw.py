"""Shape geometry, rasterisation and colouring for the synthetic dataset.

A drawn thing (class object or distractor) is a ``Patch``: an anti-aliased uint8 alpha
mask placed at an integer offset in the image, which may hang over the image border.
Shapes are polygons in unit coordinates (radius <= 1), scaled, stretched and rotated;
``fillPoly`` draws them with 1/16-pixel precision so even 8 px objects keep their corners.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from edgekit.testing.backgrounds import _cv2, random_color, value_noise

Contours = List[np.ndarray]  # each (k, 2) float, unit coordinates
SHIFT = 4  # fillPoly sub-pixel bits


def _regular(n: int, start: float = np.pi / 2, radius: float = 1.0) -> np.ndarray:
    a = start + 2 * np.pi * np.arange(n) / n
    return radius * np.stack([np.cos(a), -np.sin(a)], axis=1)


def _circle(rng: np.random.Generator) -> Contours:
    return [_regular(48)]


def _square(rng: np.random.Generator) -> Contours:
    half = rng.uniform(0.72, 1.0)  # squares and mildly oblong rectangles
    return [np.array([[-1, -half], [1, -half], [1, half], [-1, half]]) / np.hypot(1, half)]


def _triangle(rng: np.random.Generator) -> Contours:
    return [_regular(3) + rng.normal(0, 0.04, (3, 2))]


def _star(rng: np.random.Generator) -> Contours:
    outer, inner = _regular(5), _regular(5, start=np.pi / 2 + np.pi / 5, radius=rng.uniform(0.38, 0.5))
    return [np.stack([outer, inner], axis=1).reshape(-1, 2)]


def _hexagon(rng: np.random.Generator) -> Contours:
    return [_regular(6)]


def _cross(rng: np.random.Generator) -> Contours:
    w = rng.uniform(0.26, 0.36)
    pts = [(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w)]
    pts.append((-w, -w))
    return [np.array(pts, dtype=np.float64)]


def _ring(rng: np.random.Generator) -> Contours:
    return [_regular(48), _regular(48, radius=rng.uniform(0.45, 0.62))]


def _arrow(rng: np.random.Generator) -> Contours:
    w, h, neck = rng.uniform(0.18, 0.26), rng.uniform(0.55, 0.7), rng.uniform(-0.05, 0.25)
    pts = [(-1, -w), (neck, -w), (neck, -h), (1, 0), (neck, h), (neck, w), (-1, w)]
    return [np.array(pts, dtype=np.float64)]


SHAPES: Dict[str, Callable[[np.random.Generator], Contours]] = {
    "circle": _circle,
    "square": _square,
    "triangle": _triangle,
    "star": _star,
    "hexagon": _hexagon,
    "cross": _cross,
    "ring": _ring,
    "arrow": _arrow,
}
CLASS_NAMES: Tuple[str, ...] = tuple(SHAPES)


@dataclass
class Patch:
    """An alpha mask (uint8, 255 = opaque) whose top-left corner is at ``(x0, y0)`` in the image."""

    alpha: np.ndarray
    x0: int
    y0: int
    contours: Optional[List[np.ndarray]] = None  # pixel contours in patch coordinates (for outlines)

    @property
    def area(self) -> int:
        """Pixels that count as the object's (alpha >= 50 %), on or off the image."""
        return int(np.count_nonzero(self.alpha >= 128))


def place(contours: Contours, cx: float, cy: float, size: float, angle: float, aspect: float = 1.0) -> Patch:
    """Rasterise unit contours scaled to ``size`` px across (diameter), stretched and rotated."""
    cv2 = _cv2()
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    pts = [(p * (0.5 * size * np.array([1.0, aspect]))) @ rot.T + (cx, cy) for p in contours]
    allp = np.concatenate(pts)
    x0, y0 = int(np.floor(allp[:, 0].min())) - 2, int(np.floor(allp[:, 1].min())) - 2
    x1, y1 = int(np.ceil(allp[:, 0].max())) + 3, int(np.ceil(allp[:, 1].max())) + 3
    alpha = np.zeros((y1 - y0, x1 - x0), np.uint8)
    local = [np.round((p - (x0, y0)) * (1 << SHIFT)).astype(np.int32) for p in pts]
    cv2.fillPoly(alpha, local, 255, lineType=cv2.LINE_AA, shift=SHIFT)
    return Patch(alpha, x0, y0, local)


def blob(rng: np.random.Generator, cx: float, cy: float, size: float) -> Patch:
    """An irregular lumpy blob (a distractor that is clearly not a circle)."""
    a = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    r = np.ones_like(a)
    for k in range(2, 6):
        r += rng.uniform(0.08, 0.22) * np.sin(k * a + rng.uniform(0, 2 * np.pi))
    r /= r.max()
    unit = np.stack([r * np.cos(a), r * np.sin(a)], axis=1)
    return place([unit], cx, cy, size, rng.uniform(0, 2 * np.pi), rng.uniform(0.4, 1.0))


def stroke(rng: np.random.Generator, cx: float, cy: float, size: float) -> Patch:
    """A line, a polyline or a random-walk scribble of some thickness."""
    cv2 = _cv2()
    n = int(rng.integers(2, 8))
    steps = rng.normal(0, size / max(2, n - 1), (n, 2))
    pts = np.cumsum(steps, axis=0)
    pts += (cx, cy) - pts.mean(axis=0)
    thick = int(rng.integers(1, 5))
    x0, y0 = np.floor(pts.min(axis=0)).astype(int) - thick - 2
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + thick + 3
    alpha = np.zeros((y1 - y0, x1 - x0), np.uint8)
    local = np.round((pts - (x0, y0)) * (1 << SHIFT)).astype(np.int32)
    cv2.polylines(alpha, [local], False, 255, thick, cv2.LINE_AA, SHIFT)
    return Patch(alpha, int(x0), int(y0))


TEXT_CHARS = "ABCDEFGHJKLMNPRSTUVWYZabcdefghkmnprstuvwyz123456789#%&?"


def text(rng: np.random.Generator, cx: float, cy: float, size: float) -> Patch:
    """A short random string in a Hershey font, rotated (text-like clutter)."""
    cv2 = _cv2()
    word = "".join(rng.choice(list(TEXT_CHARS), int(rng.integers(1, 7))))
    font = int(rng.choice([0, 1, 2, 3, 4, 6, 7]))  # the Hershey faces, without the script ones
    scale = max(0.25, size / 40.0)
    thick = max(1, int(round(scale * rng.uniform(1.0, 2.5))))
    (tw, th), base = cv2.getTextSize(word, font, scale, thick)
    side = int(np.hypot(tw, th + base)) + 4
    alpha = np.zeros((side, side), np.uint8)
    cv2.putText(alpha, word, ((side - tw) // 2, (side + th) // 2), font, scale, 255, thick, cv2.LINE_AA)
    rot = cv2.getRotationMatrix2D((side / 2, side / 2), rng.uniform(-60, 60), 1.0)
    alpha = cv2.warpAffine(alpha, rot, (side, side), flags=cv2.INTER_LINEAR)
    return Patch(alpha, int(round(cx - side / 2)), int(round(cy - side / 2)))


DISTRACTORS = (blob, stroke, text)


def fill(rng: np.random.Generator, patch: Patch, color: np.ndarray) -> np.ndarray:
    """The colour layer of a patch: shaded, two-tone gradient or textured, sometimes outlined."""
    cv2 = _cv2()
    h, w = patch.alpha.shape
    theta = rng.uniform(0, 2 * np.pi)
    xs = np.arange(w, dtype=np.float32) * np.float32(np.cos(theta) / max(h, w, 1))
    ys = np.arange(h, dtype=np.float32) * np.float32(np.sin(theta) / max(h, w, 1))
    ramp = ys[:, None] + xs[None, :]
    ramp = (ramp - ramp.min())[..., None]
    style = rng.random()
    if style < 0.45:
        layer = color * (1 + rng.uniform(-0.35, 0.35) * (ramp - 0.5))
    elif style < 0.75:
        other = np.clip(color + rng.normal(0, 0.25, 3), 0, 1)
        layer = color * (1 - ramp) + other * ramp
    else:
        tex = value_noise(rng, h, w, cells=int(rng.integers(1, 4)), octaves=3)[..., None]
        layer = color * (0.75 + 0.5 * tex)
    layer = np.broadcast_to(layer, (h, w, 3)).astype(np.float32)
    if patch.contours is not None and rng.random() < 0.3:
        edge = np.zeros((h, w), np.uint8)
        thick = 1 if max(h, w) < 48 else int(rng.integers(1, 4))
        cv2.polylines(edge, patch.contours, True, 255, thick, cv2.LINE_AA, SHIFT)
        e = (edge.astype(np.float32) / 255.0)[..., None]
        dark = color * rng.uniform(0.0, 0.5) if rng.random() < 0.7 else random_color(rng)
        layer = layer * (1 - e) + dark * e
    return np.clip(layer, 0, 1)


def _clip(patch: Patch, shape: Tuple[int, int]) -> Optional[Tuple[slice, slice, slice, slice]]:
    """(image rows, image cols, patch rows, patch cols) of the on-image part, or None."""
    h, w = shape
    ph, pw = patch.alpha.shape
    ix0, iy0 = max(patch.x0, 0), max(patch.y0, 0)
    ix1, iy1 = min(patch.x0 + pw, w), min(patch.y0 + ph, h)
    if ix0 >= ix1 or iy0 >= iy1:
        return None
    return (
        slice(iy0, iy1),
        slice(ix0, ix1),
        slice(iy0 - patch.y0, iy1 - patch.y0),
        slice(ix0 - patch.x0, ix1 - patch.x0),
    )


def paint_owner(owner: np.ndarray, patch: Patch, value: int) -> None:
    """Mark the image pixels this patch covers (alpha >= 50 %) as owned by ``value``."""
    region = _clip(patch, owner.shape)
    if region is not None:
        ys, xs, pys, pxs = region
        owner[ys, xs][patch.alpha[pys, pxs] >= 128] = value


def mean_under(img: np.ndarray, patch: Patch) -> np.ndarray:
    """Mean colour of the image under the patch's opaque pixels (for a contrast check)."""
    region = _clip(patch, img.shape[:2])
    if region is None:
        return img.reshape(-1, 3).mean(axis=0)
    ys, xs, pys, pxs = region
    sel = patch.alpha[pys, pxs] >= 128
    return img[ys, xs][sel].mean(axis=0) if sel.any() else img[ys, xs].reshape(-1, 3).mean(axis=0)


def composite(img: np.ndarray, patch: Patch, layer: np.ndarray, shadow: float = 0.0) -> None:
    """Alpha-blend ``layer`` into ``img`` in place; ``shadow`` > 0 first darkens a soft offset copy."""
    if shadow > 0:
        _shadow(img, patch, shadow)
    region = _clip(patch, img.shape[:2])
    if region is None:
        return
    ys, xs, pys, pxs = region
    a = (patch.alpha[pys, pxs].astype(np.float32) / 255.0)[..., None]
    img[ys, xs] = img[ys, xs] * (1 - a) + layer[pys, pxs] * a


def _shadow(img: np.ndarray, patch: Patch, strength: float) -> None:
    """Darken a blurred copy of the patch's mask, offset down-right (a soft drop shadow)."""
    cv2 = _cv2()
    sigma = max(1.0, 0.06 * max(patch.alpha.shape))
    pad = int(np.ceil(3 * sigma))
    soft = cv2.copyMakeBorder(patch.alpha, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    soft = cv2.GaussianBlur(soft, (0, 0), sigma)
    offset = int(round(sigma))
    shade = Patch(soft, patch.x0 - pad + offset, patch.y0 - pad + offset)
    region = _clip(shade, img.shape[:2])
    if region is not None:
        ys, xs, pys, pxs = region
        img[ys, xs] *= 1 - strength * (soft[pys, pxs].astype(np.float32) / 255.0)[..., None]
