"""DAMO-YOLO (tinyvision/DAMO-YOLO, Apache-2.0) rebuilt with edgekit's own modules."""

from edgekit.models.damoyolo.archs import ARCHS, DamoArch, Stage, get_arch
from edgekit.models.damoyolo.family import FAMILY, DamoYoloFamily
from edgekit.models.damoyolo.model import DamoYolo, build_model
from edgekit.models.damoyolo.reparam import damoyolo_pipeline
from edgekit.models.damoyolo.writer import write_official_checkpoint

__all__ = [
    "ARCHS",
    "FAMILY",
    "DamoArch",
    "DamoYolo",
    "DamoYoloFamily",
    "Stage",
    "build_model",
    "damoyolo_pipeline",
    "get_arch",
    "write_official_checkpoint",
]
