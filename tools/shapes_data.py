"""In-memory YOLO-txt training data with mosaic + scale/translate + flip (developer tool).

The synthetic shapes splits are small (4,000 images of 320 px, 1.2 GB as uint8), so the
whole train split is decoded once into RAM and every batch is augmented on the fly with
OpenCV: a 2x2 mosaic (objects keep their size), a random scale (0.5-1.5) and translation
(10 %), a crop of the training size around the centre (a crop smaller than the source
images keeps object sizes and costs less per step), a horizontal flip and a
brightness/contrast jitter. Boxes
that lose most of their area to the crop or end up under 2 px are dropped, as in YOLO
trainers. Deterministic for a given seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, List, Tuple

import cv2
import numpy as np
import torch

PAD = 114


def _labels(path: Path, w: int, h: int) -> np.ndarray:
    """(K, 5) class, x1, y1, x2, y2 in pixels from a YOLO txt file (missing file: no boxes)."""
    if not path.is_file():
        return np.zeros((0, 5), np.float32)
    rows = np.loadtxt(path, ndmin=2, dtype=np.float32).reshape(-1, 5)
    c, x, y, bw, bh = rows.T
    return np.stack([c, (x - bw / 2) * w, (y - bh / 2) * h, (x + bw / 2) * w, (y + bh / 2) * h], 1)


class ShapesTrainSet:
    """The images and boxes of one YOLO split held in memory (RGB uint8)."""

    def __init__(self, images_dir: Path, limit: int = 0) -> None:
        files = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in {".jpg", ".png"})
        if limit:
            files = files[:limit]
        if not files:
            raise SystemExit(f"{images_dir}: no training images")
        labels_dir = images_dir.parents[1] / "labels" / images_dir.name
        self.images: List[np.ndarray] = []
        self.boxes: List[np.ndarray] = []
        for f in files:
            img = cv2.cvtColor(cv2.imread(str(f), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            self.images.append(img)
            self.boxes.append(_labels(labels_dir / f"{f.stem}.txt", img.shape[1], img.shape[0]))

    def __len__(self) -> int:
        return len(self.images)


def _place(canvas: np.ndarray, img: np.ndarray, x0: int, y0: int) -> None:
    """Paste ``img`` with its top-left at (x0, y0), clipped to the canvas."""
    h, w = img.shape[:2]
    ch, cw = canvas.shape[:2]
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + w, cw), min(y0 + h, ch)
    if xb > xa and yb > ya:
        canvas[ya:yb, xa:xb] = img[ya - y0 : yb - y0, xa - x0 : xb - x0]


class Augmenter:
    """Builds augmented batches of ``size`` x ``size`` images from a ``ShapesTrainSet``."""

    def __init__(self, data: ShapesTrainSet, size: int, seed: int) -> None:
        self.data, self.size = data, size
        self.rng = np.random.default_rng(seed)

    def _mosaic(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        s = self.data.images[index].shape[0]  # the canvas holds four source images at full size
        canvas = np.full((2 * s, 2 * s, 3), PAD, np.uint8)
        xc, yc = (int(v) for v in self.rng.uniform(0.5 * s, 1.5 * s, 2))
        picks = [index, *self.rng.integers(0, len(self.data), 3)]
        boxes = []
        for k, i in enumerate(picks):
            img, b = self.data.images[i], self.data.boxes[i].copy()
            h, w = img.shape[:2]
            x0 = xc - w if k in (0, 2) else xc
            y0 = yc - h if k in (0, 1) else yc
            _place(canvas, img, x0, y0)
            b[:, [1, 3]] += x0
            b[:, [2, 4]] += y0
            boxes.append(b)
        boxes_all = np.concatenate(boxes)
        boxes_all[:, 1:] = boxes_all[:, 1:].clip(0, 2 * s)  # parts pasted off the canvas are gone
        return canvas, boxes_all

    def sample(self, index: int, mosaic: bool) -> Tuple[np.ndarray, np.ndarray]:
        """One augmented image (size, size, 3) RGB uint8 and its (K, 5) boxes."""
        if mosaic:
            img, boxes = self._mosaic(index)
        else:
            img, boxes = self.data.images[index], self.data.boxes[index].copy()
        s = self.size
        h, w = img.shape[:2]
        scale = float(self.rng.uniform(0.5, 1.5))
        cx = w / 2 + float(self.rng.uniform(-0.1, 0.1)) * s
        cy = h / 2 + float(self.rng.uniform(-0.1, 0.1)) * s
        m = np.array([[scale, 0, s / 2 - scale * cx], [0, scale, s / 2 - scale * cy]], np.float32)
        out = cv2.warpAffine(img, m, (s, s), flags=cv2.INTER_LINEAR, borderValue=(PAD, PAD, PAD))
        if len(boxes):
            xy = boxes[:, 1:] * scale
            xy[:, [0, 2]] += m[0, 2]
            xy[:, [1, 3]] += m[1, 2]
            area0 = (xy[:, 2] - xy[:, 0]) * (xy[:, 3] - xy[:, 1])
            xy = xy.clip(0, s)
            bw, bh = xy[:, 2] - xy[:, 0], xy[:, 3] - xy[:, 1]
            keep = (bw > 2) & (bh > 2) & (bw * bh > 0.1 * area0)
            boxes = np.concatenate([boxes[keep, :1], xy[keep]], 1)
        if self.rng.random() < 0.5:
            out = out[:, ::-1]
            boxes[:, [1, 3]] = s - boxes[:, [3, 1]]
        gain, bias = self.rng.uniform(0.75, 1.25), self.rng.uniform(-20, 20)
        out = cv2.convertScaleAbs(out, alpha=float(gain), beta=float(bias))
        return np.ascontiguousarray(out), boxes.astype(np.float32)

    def epoch(self, batch: int, mosaic: bool) -> Iterator[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Batches of (B, 3, s, s) float 0-255 images, (B, M) labels (-1 pads), (B, M, 4) boxes."""
        order = self.rng.permutation(len(self.data))
        for start in range(0, len(order) - batch + 1, batch):  # drop the last partial batch
            samples = [self.sample(int(i), mosaic) for i in order[start : start + batch]]
            yield collate(samples)


def collate(samples: List[Tuple[np.ndarray, np.ndarray]]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack images (NCHW float32, 0-255) and pad the box lists to the batch's largest."""
    # contiguous NCHW: a channels-last-strided input crashes DAMO-YOLO's backward in torch 2.13 (CPU)
    imgs = torch.from_numpy(np.stack([s[0] for s in samples])).permute(0, 3, 1, 2).float().contiguous()
    m = max(1, max(len(s[1]) for s in samples))
    labels = torch.full((len(samples), m), -1, dtype=torch.long)
    boxes = torch.zeros((len(samples), m, 4))
    for i, (_, b) in enumerate(samples):
        labels[i, : len(b)] = torch.from_numpy(b[:, 0]).long()
        boxes[i, : len(b)] = torch.from_numpy(b[:, 1:])
    return imgs, labels, boxes
