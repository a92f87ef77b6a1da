"""Latency vs mAP scatter per configuration: matplotlib when importable, else OpenCV drawing."""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence, Tuple

from edgekit.bench.measure import Result
from edgekit.errors import BackendError

Point = Tuple[float, float, str]
WIDTH, HEIGHT, MARGIN = 800, 560, 80
COLORS = [(200, 80, 30), (40, 140, 40), (30, 60, 200), (150, 40, 150), (20, 150, 200), (90, 90, 90)]


def points(results: Sequence[Result]) -> Tuple[List[Point], str]:
    """(latency, y, label) per result; y is mAP50-95 when measured, else throughput."""
    if all(r.map50_95 is not None for r in results):
        return [(r.median_ms["total"], float(r.map50_95 or 0), r.name) for r in results], "mAP50-95"
    return [(r.median_ms["total"], float(r.throughput or 0), r.name) for r in results], "images/s (no --data)"


def write_plot(results: Sequence[Result], path: Path, title: str = "edgekit benchmark") -> Path:
    """Write the scatter to ``path`` (PNG); returns it."""
    pts, ylabel = points(results)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _cv2_plot(pts, ylabel, path, title)
    fig, ax = plt.subplots(figsize=(8, 5.6))
    for x, y, label in pts:
        ax.scatter([x], [y])
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(6, 6))
    ax.set_xlabel("end-to-end latency, median ms")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _span(values: Sequence[float]) -> Tuple[float, float]:
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.15 or max(abs(hi) * 0.1, 0.5)
    return lo - pad, hi + pad


def _cv2_plot(pts: Sequence[Point], ylabel: str, path: Path, title: str) -> Path:
    import cv2
    import numpy as np

    img = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
    x0, x1 = _span([p[0] for p in pts])
    x0 = max(x0, 0.0)
    y0, y1 = _span([p[1] for p in pts])
    y0 = max(y0, 0.0) if min(p[1] for p in pts) >= 0 else y0
    left, right, top, bottom = MARGIN, WIDTH - 30, 50, HEIGHT - MARGIN

    def to_px(x: float, y: float) -> Tuple[int, int]:
        return (
            int(left + (x - x0) / (x1 - x0) * (right - left)),
            int(bottom - (y - y0) / (y1 - y0) * (bottom - top)),
        )

    font, black, grey = cv2.FONT_HERSHEY_SIMPLEX, (0, 0, 0), (220, 220, 220)
    for i in range(6):  # grid and tick labels
        fx, fy = x0 + (x1 - x0) * i / 5, y0 + (y1 - y0) * i / 5
        px, _ = to_px(fx, y0)
        _, py = to_px(x0, fy)
        cv2.line(img, (px, top), (px, bottom), grey, 1)
        cv2.line(img, (left, py), (right, py), grey, 1)
        cv2.putText(img, f"{fx:.3g}", (px - 15, bottom + 20), font, 0.4, black, 1, cv2.LINE_AA)
        cv2.putText(img, f"{fy:.3g}", (left - 55, py + 4), font, 0.4, black, 1, cv2.LINE_AA)
    cv2.rectangle(img, (left, top), (right, bottom), black, 1)
    cv2.putText(img, "end-to-end latency, median ms", (left + 200, HEIGHT - 25), font, 0.5, black, 1)
    cv2.putText(img, ylabel, (10, 30), font, 0.5, black, 1, cv2.LINE_AA)
    cv2.putText(img, title, (left + 200, 30), font, 0.6, black, 1, cv2.LINE_AA)
    for i, (x, y, label) in enumerate(pts):
        center = to_px(x, y)
        color = COLORS[i % len(COLORS)]
        cv2.circle(img, center, 7, color, -1, cv2.LINE_AA)
        (text_w, _), _ = cv2.getTextSize(label, font, 0.5, 1)
        tx = center[0] + 10 if center[0] + 10 + text_w < WIDTH - 5 else center[0] - 10 - text_w
        cv2.putText(img, label, (tx, center[1] - 8 - 14 * (i % 2)), font, 0.5, color, 1, cv2.LINE_AA)
    if not cv2.imwrite(str(path), img):
        raise BackendError(f"{path}: OpenCV could not write the plot")
    return path
