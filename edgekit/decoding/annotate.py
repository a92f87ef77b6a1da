"""Draw detections on an image: boxes first, then labels placed to stay inside the image and
clear of each other. Imports without cv2; drawing and writing need any importable cv2.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Tuple, Union

import numpy as np

from edgekit._optional import require
from edgekit.decoding.images import to_bgr8
from edgekit.errors import InputFileError, first_line

if TYPE_CHECKING:
    from edgekit.decoding.detections import Detections

Rect = Tuple[int, int, int, int]  # x1, y1, x2, y2 (exclusive right/bottom)
PAD = 2  # pixels of label background around the text


def color_for(class_id: int) -> Tuple[int, int, int]:
    """A stable, distinct BGR colour per class."""
    hue = (class_id * 0.618033988749895) % 1.0
    r, g, b = (int(255 * max(0.0, min(1.0, abs(hue * 6 - k) - 1))) for k in (3, 2, 4))
    return (b, g, 255 - r)


def text_color(background: Tuple[int, int, int]) -> Tuple[int, int, int]:
    """Black or white, whichever reads better on the BGR ``background``."""
    b, g, r = background
    return (0, 0, 0) if 0.114 * b + 0.587 * g + 0.299 * r > 150 else (255, 255, 255)


def default_line_width(shape: Sequence[int]) -> int:
    """Box line width for an image of ``shape`` (about 0.3 % of its mean side, at least 1)."""
    return max(1, round(sum(shape[:2]) / 600))


def _overlap(a: Rect, b: Rect) -> int:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0


def _clamp(x: int, y: int, w: int, h: int, shape: Sequence[int]) -> Rect:
    x = max(0, min(x, shape[1] - w))
    y = max(0, min(y, shape[0] - h))
    return (x, y, x + w, y + h)


def label_rects(
    boxes: Any,
    sizes: Sequence[Tuple[int, int]],
    shape: Sequence[int],
    order: Optional[Sequence[int]] = None,
) -> List[Rect]:
    """Where each box's label goes: (x1, y1, x2, y2) of a ``sizes[i]`` = (w, h) rectangle.

    Labels are placed one by one (in ``order``, default: as given) at the first of: above the
    box, inside its top, below it, inside its bottom (left-aligned, then right-aligned), each
    clamped into the ``shape`` (H, W, ...) image, that overlaps no label placed before; when none
    is free, the candidate overlapping least. Pure: no cv2.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    placed: List[Optional[Rect]] = [None] * len(boxes)
    done: List[Rect] = []
    for i in order if order is not None else range(len(boxes)):
        x1, y1, x2, y2 = (int(round(v)) for v in boxes[i])
        w, h = sizes[i]
        candidates = [_clamp(x, y, w, h, shape) for x in (x1, x2 - w) for y in (y1 - h, y1, y2, y2 - h)]
        best = min(candidates, key=lambda r: sum(_overlap(r, d) for d in done))
        placed[i] = best
        done.append(best)
    return [r if r is not None else (0, 0, 0, 0) for r in placed]


def _texts(detections: Detections, conf: bool) -> List[str]:
    if not conf:
        return list(detections.names)
    return [f"{name} {c:.2f}" for name, c in zip(detections.names, detections.confidence.tolist())]


def draw(
    image: np.ndarray,
    detections: Detections,
    *,
    labels: bool = True,
    conf: bool = True,
    line_width: Optional[int] = None,
) -> np.ndarray:
    """An annotated BGR copy of ``image`` (not modified): a box per detection in its class colour
    (its mask filled, its keypoints and skeleton, or its rotated box for the other tasks), then
    (``labels``) ``"name 0.87"`` labels (``conf=False``: the name only) on a filled background.
    """
    cv2 = require("cv2", "cv", reason="needed to draw annotated images")
    out = to_bgr8(image)
    out = np.ascontiguousarray(out.copy() if np.may_share_memory(out, image) else out)
    lw = int(line_width) if line_width else default_line_width(out.shape)
    colors = [color_for(int(c)) for c in detections.class_id]
    from edgekit.decoding.annotate_tasks import draw_tasks

    if not draw_tasks(cv2, out, detections, colors, lw):  # masks, keypoints, rotated boxes
        for (box, _, _), color in zip(detections, colors):
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            cv2.rectangle(out, (x1, y1), (x2, y2), color, lw, cv2.LINE_AA)
    if not labels or not len(detections):
        return out
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.35 + 0.1 * lw, max(1, lw // 2)
    texts = _texts(detections, conf)
    metrics = [cv2.getTextSize(t, font, scale, thick) for t in texts]
    sizes = [(tw + 2 * PAD, th + base + 2 * PAD) for (tw, th), base in metrics]
    order = np.argsort(-detections.confidence, kind="stable").tolist()  # best box picks first
    rects = label_rects(detections.xyxy, sizes, out.shape, order)
    for i in reversed(order):  # the most confident label is drawn last, on top
        x1, y1, x2, y2 = rects[i]
        cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), colors[i], -1)
        baseline = metrics[i][1]
        org = (x1 + PAD, y2 - PAD - baseline)
        cv2.putText(out, texts[i], org, font, scale, text_color(colors[i]), thick, cv2.LINE_AA)
    return out


def write_image(path: Union[str, Path], image: np.ndarray) -> Path:
    """Write ``image`` with cv2.imwrite, atomically: a temporary file beside ``path`` (same
    suffix, so the same encoder), then renamed. ``InputFileError`` naming ``path`` on failure.
    """
    cv2 = require("cv2", "cv", reason="needed to write images")
    path = Path(path)
    suffix = path.suffix.lower()
    writable = getattr(cv2, "haveImageWriter", None)
    if not suffix or (writable is not None and not writable(str(path))):
        raise InputFileError(path, f"cannot write images of type '{path.suffix}' (try .jpg or .png)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputFileError(path, f"cannot write here ({first_line(exc)})") from None
    # imwrite creates the file itself (the usual permissions); a unique name per writer
    tmp = str(path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}"))
    try:
        try:
            ok = cv2.imwrite(tmp, image)
        except cv2.error as exc:
            raise InputFileError(path, f"cannot write the image ({first_line(exc)})") from None
        if not ok:
            raise InputFileError(path, "cannot write the image")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def annotate(image: np.ndarray, detections: Detections, path: Union[str, Path], **style: Any) -> Path:
    """Write the annotated ``image`` to ``path`` (atomically); ``style`` as for ``draw``."""
    return write_image(path, draw(image, detections, **style))
