"""WongKinYiu YOLOv9 (train-time with PGI) and GELAN, rebuilt with edgekit's own modules."""

from edgekit.models.yolov9.archs import ARCHS, VARIANTS, get_arch
from edgekit.models.yolov9.build import YoloV9Model, build_model
from edgekit.models.yolov9.family import FAMILY, YoloV9Family, identify, match_state_dict
from edgekit.models.yolov9.reparam import PgiStripPass, plan_strip, strip_pgi, yolov9_pipeline
from edgekit.models.yolov9.writer import write_official_checkpoint

__all__ = [
    "ARCHS",
    "FAMILY",
    "PgiStripPass",
    "VARIANTS",
    "YoloV9Family",
    "YoloV9Model",
    "build_model",
    "get_arch",
    "identify",
    "match_state_dict",
    "plan_strip",
    "strip_pgi",
    "write_official_checkpoint",
    "yolov9_pipeline",
]
