"""Calibration images for INT8 quantizers: one dataset type, several sources, the runtime's preprocessing.

Its defaults (``CALIB_IMAGES``, ``IMAGE_SUFFIXES``, ...) live in ``edgekit.vocab``."""

from edgekit.calibration.data import CalibrationData, CalibrationWarning
from edgekit.calibration.sources import Skipped

__all__ = ["CalibrationData", "CalibrationWarning", "Skipped"]
