"""One synthetic image: background, class objects, clutter, occlusion bookkeeping, camera effects.

A scene is planned first (shapes as alpha masks, in a random z-order with the clutter),
then objects that end up less than ``min_visible`` visible are removed *before* anything
is painted, so every object in the image is labelled and every label is at least 40 %
visible. Removing an object only uncovers the others, so one pass of removals suffices.

Box convention: the tight box of the object's *visible* pixels (alpha >= 50 % and on top),
clipped to the image — the COCO convention, where boxes enclose the visible segmentation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from edgekit.testing import draw
from edgekit.testing.backgrounds import PhotoSource, _cv2, background, random_color

SMALL_SPLIT = 32.0  # px: sizes below this are drawn for the "small" share of objects


@dataclass(frozen=True)
class SceneConfig:
    """What a scene may contain. Sizes are the shape's diameter in pixels."""

    imgsz: int = 320
    min_objects: int = 1
    max_objects: int = 12
    min_size: float = 8.0
    max_size: Optional[float] = None  # default: half the image
    small_share: float = 0.5  # probability that an object's size is drawn below SMALL_SPLIT
    min_visible: float = 0.4  # objects less visible than this are removed from the scene
    min_box_side: int = 4  # px: objects whose visible box is thinner are removed too
    max_distractors: int = 8

    def __post_init__(self) -> None:
        lo, hi = self.size_range
        if self.imgsz < 32 or not 0 <= self.min_objects <= self.max_objects:
            raise ValueError(f"need imgsz >= 32 and 0 <= min_objects <= max_objects: {self}")
        if not 1 <= lo <= hi or not 0 <= self.small_share <= 1 or not 0 < self.min_visible <= 1:
            raise ValueError(
                f"need 1 <= min_size <= max_size, small_share in [0, 1], min_visible in (0, 1]: {self}"
            )

    @property
    def size_range(self) -> Tuple[float, float]:
        return self.min_size, float(self.max_size or self.imgsz / 2)


@dataclass(frozen=True)
class Annotation:
    """A labelled object: class index, pixel box ``(x0, y0, x1, y1)`` (x1/y1 exclusive), visible share."""

    cls: int
    box: Tuple[int, int, int, int]
    visible: float


@dataclass
class Scene:
    """The drawn image and its labels; ``owner`` and ``layers`` let ``testing.tasks`` derive the rest."""

    image: np.ndarray  # (H, W, 3) uint8, RGB
    annotations: List[Annotation]
    jpeg_quality: int
    owner: Optional[np.ndarray] = None  # (H, W) int16: z-index of the item on top (alpha >= 50 %), -1 none
    layers: List[Tuple[int, draw.Patch]] = field(default_factory=list)  # per annotation: z-index, patch


@dataclass
class _Item:
    patch: draw.Patch
    cls: int  # -1 for clutter
    visible: float = 1.0
    box: Tuple[int, int, int, int] = (0, 0, 0, 0)
    keep: bool = True
    extra: dict = field(default_factory=dict)


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(max(hi, lo)))))


def _object_size(rng: np.random.Generator, cfg: SceneConfig) -> float:
    lo, hi = cfg.size_range
    split = min(max(SMALL_SPLIT, lo), hi)
    if rng.random() < cfg.small_share:
        return _loguniform(rng, lo, split)
    return _loguniform(rng, split, hi)


def _overlap(a: Tuple[float, ...], b: Tuple[float, ...]) -> float:
    """Intersection over the smaller box's area."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / max(smaller, 1e-6)


def _plan_objects(rng: np.random.Generator, cfg: SceneConfig) -> List[_Item]:
    n = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    items: List[_Item] = []
    extents: List[Tuple[float, ...]] = []
    side = cfg.imgsz
    for _ in range(n):
        cls = int(rng.integers(len(draw.CLASS_NAMES)))
        size = _object_size(rng, cfg)
        margin = 0.2 * size  # centres keep most of the shape on the image
        for _attempt in range(12):  # look for a spot that does not bury an earlier object
            cx, cy = rng.uniform(margin, side - margin, 2) if side > 2 * margin else (side / 2, side / 2)
            ext = (cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2)
            if all(_overlap(ext, e) < 0.5 for e in extents):
                break
        else:
            continue
        contours = draw.SHAPES[draw.CLASS_NAMES[cls]](rng)
        aspect = rng.uniform(0.8, 1.0) if cls else rng.uniform(0.92, 1.0)  # circles stay round
        patch = draw.place(contours, cx, cy, size, rng.uniform(0, 2 * np.pi), aspect)
        items.append(_Item(patch, cls))
        extents.append(ext)
    return items


def _plan_clutter(rng: np.random.Generator, cfg: SceneConfig) -> List[_Item]:
    items = []
    for _ in range(int(rng.integers(0, cfg.max_distractors + 1))):
        kind = draw.DISTRACTORS[int(rng.integers(len(draw.DISTRACTORS)))]
        size = _loguniform(rng, 10, cfg.imgsz / 3)
        cx, cy = rng.uniform(0, cfg.imgsz, 2)
        items.append(_Item(kind(rng, cx, cy, size), -1))
    return items


def _resolve_occlusion(items: List[_Item], cfg: SceneConfig) -> np.ndarray:
    """Compute every object's visible share and box; drop those below the limits (in place).

    Returns the final owner map: the index in ``items`` of the kept item on top of each pixel, or -1.
    """
    shape = (cfg.imgsz, cfg.imgsz)
    while True:
        owner = np.full(shape, -1, np.int16)
        for i, item in enumerate(items):
            if item.keep:
                draw.paint_owner(owner, item.patch, i)
        dropped = False
        for i, item in enumerate(items):
            if not item.keep or item.cls < 0:
                continue
            region = draw._clip(item.patch, shape)
            ys, xs = (slice(0, 0), slice(0, 0)) if region is None else region[:2]
            rows, cols = np.nonzero(owner[ys, xs] == i)
            item.visible = len(rows) / max(item.patch.area, 1)
            if len(rows):
                x0, y0 = xs.start + int(cols.min()), ys.start + int(rows.min())
                item.box = (x0, y0, xs.start + int(cols.max()) + 1, ys.start + int(rows.max()) + 1)
            side = min(item.box[2] - item.box[0], item.box[3] - item.box[1])
            if not len(rows) or item.visible < cfg.min_visible or side < cfg.min_box_side:
                item.keep = False
                dropped = True
        if not dropped:
            return owner


def _paint(rng: np.random.Generator, img: np.ndarray, items: List[_Item]) -> None:
    for item in items:
        if not item.keep:
            continue
        under = draw.mean_under(img, item.patch)
        color = random_color(rng)
        for _ in range(6):  # keep objects distinguishable from what lies under them
            if float(np.abs(color - under).sum()) >= 0.6:
                break
            color = random_color(rng)
        shadow = rng.uniform(0.2, 0.5) if rng.random() < 0.25 else 0.0
        draw.composite(img, item.patch, draw.fill(rng, item.patch, color), shadow)


def _camera(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Quantisation, defocus and sensor noise (in uint8, where OpenCV is fastest)."""
    cv2 = _cv2()
    out = cv2.convertScaleAbs(img, alpha=255.0)  # rounds and saturates
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 0.9))
    sigma = rng.uniform(0.0, 0.03)
    if sigma > 0.005:  # luminance grain, per pixel
        grain = rng.standard_normal(out.shape[:2], dtype=np.float32) * np.float32(sigma * 255.0)
        out = cv2.add(out, cv2.merge([grain, grain, grain]), dtype=cv2.CV_8U)
    return out


def render_scene(rng: np.random.Generator, cfg: SceneConfig, photos: Optional[PhotoSource] = None) -> Scene:
    """Draw one scene; the generator's state alone decides every pixel and label."""
    img = background(rng, cfg.imgsz, cfg.imgsz, photos)
    items = _plan_objects(rng, cfg) + _plan_clutter(rng, cfg)
    items = [items[i] for i in rng.permutation(len(items))]  # clutter both under and over objects
    owner = _resolve_occlusion(items, cfg)
    _paint(rng, img, items)
    image = _camera(rng, img)
    kept = [i for i, it in enumerate(items) if it.keep and it.cls >= 0]
    anns = [Annotation(items[i].cls, items[i].box, round(items[i].visible, 4)) for i in kept]
    layers = [(i, items[i].patch) for i in kept]
    return Scene(image, anns, int(rng.integers(65, 96)), owner, layers)
