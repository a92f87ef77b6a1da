"""RT-DETRv2 (lyuwenyu/RT-DETR ``rtdetrv2_pytorch``, Apache-2.0) rebuilt with edgekit's own modules."""

from edgekit.models.rtdetrv2.arch import ARCHS, V2Arch, get_arch, infer_arch
from edgekit.models.rtdetrv2.family import FAMILY, RTDETRv2Family
from edgekit.models.rtdetrv2.model import RTDETRv2
from edgekit.models.rtdetrv2.reparam import rtdetrv2_pipeline

__all__ = [
    "ARCHS",
    "FAMILY",
    "RTDETRv2",
    "RTDETRv2Family",
    "V2Arch",
    "get_arch",
    "infer_arch",
    "rtdetrv2_pipeline",
]
