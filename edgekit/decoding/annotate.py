"""Draw detections on an image (needs any importable cv2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit._optional import require
from edgekit.decoding.detections import Detections
from edgekit.errors import InputFileError


def color_for(class_id: int) -> tuple:
    """A stable, distinct BGR colour per class."""
    hue = (class_id * 0.618033988749895) % 1.0
    r, g, b = (int(255 * max(0.0, min(1.0, abs(hue * 6 - k) - 1))) for k in (3, 2, 4))
    return (b, g, 255 - r)


def draw(image: np.ndarray, detections: Detections) -> np.ndarray:
    """A copy of the BGR ``image`` with boxes and labels."""
    cv2 = require("cv2", "cv", reason="needed to draw annotated images")
    out = np.ascontiguousarray(image.copy())
    thickness = max(1, round(sum(out.shape[:2]) / 600))
    for (box, conf, cls), name in zip(detections, detections.names):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        color = color_for(cls)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness)
        label = f"{name} {conf:.2f}"
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, 1)
        top = max(y1, th + 4)
        cv2.rectangle(out, (x1, top - th - 4), (x1 + tw + 2, top), color, -1)
        cv2.putText(
            out, label, (x1 + 1, top - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, (255, 255, 255), 1
        )
    return out


def annotate(image: np.ndarray, detections: Detections, path: Path) -> Path:
    """Write the annotated image to ``path`` (written to a temporary name, then renamed)."""
    cv2 = require("cv2", "cv", reason="needed to write annotated images")
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    if not cv2.imwrite(str(tmp), draw(image, detections)):
        raise InputFileError(path, "cannot write the annotated image")
    tmp.replace(path)
    return path
