"""Ultralytics YOLOv8 / v9 (GELAN) / v10 / YOLO11 / YOLO12 / YOLO26, rebuilt with edgekit's own modules.

Importing this package registers the ``ultralytics`` family in ``edgekit.models.base.FAMILIES``
and its reparameterization pipeline in ``edgekit.reparam.PIPELINES``.
"""

from edgekit.models.ultralytics.archs import VARIANTS, get_arch
from edgekit.models.ultralytics.build import UltralyticsModel, parse_model
from edgekit.models.ultralytics.family import FAMILY, UltralyticsFamily
from edgekit.models.ultralytics.reparam import ultralytics_pipeline

__all__ = [
    "FAMILY",
    "VARIANTS",
    "UltralyticsFamily",
    "UltralyticsModel",
    "get_arch",
    "parse_model",
    "ultralytics_pipeline",
]
