"""Synthetic data: a seeded shapes dataset with YOLO and COCO labels for detect, segment, pose and obb.

How the segment, pose and obb labels are derived from the drawn pixels: ``edgekit.testing.tasks``.

The generator draws with OpenCV (``pip install "edgekit-detect[cv]"``); importing this package
does not import OpenCV.
"""

from edgekit.testing.draw import CLASS_NAMES
from edgekit.testing.scene import SceneConfig
from edgekit.testing.shapes import DatasetInfo, Sample, SplitStats, generate, render_sample

__all__ = ["CLASS_NAMES", "DatasetInfo", "Sample", "SceneConfig", "SplitStats", "generate", "render_sample"]
