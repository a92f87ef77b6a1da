"""Calibration images for INT8 quantizers: one dataset type, several sources, the runtime's preprocessing."""

from edgekit.calibration.data import DEFAULT_IMAGES, MIN_RECOMMENDED, CalibrationData, CalibrationWarning
from edgekit.calibration.sources import IMAGE_SUFFIXES, VIDEO_SUFFIXES, Skipped

__all__ = [
    "DEFAULT_IMAGES",
    "IMAGE_SUFFIXES",
    "MIN_RECOMMENDED",
    "VIDEO_SUFFIXES",
    "CalibrationData",
    "CalibrationWarning",
    "Skipped",
]
