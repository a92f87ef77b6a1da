"""Calibration data in the form each quantizer takes (onnxruntime, NNCF); backends import lazily."""

from __future__ import annotations

from typing import Any, Dict, Iterator, Optional

import numpy as np

from edgekit._optional import require


class OrtCalibrationReader:
    """onnxruntime's ``CalibrationDataReader`` protocol over a ``CalibrationData``.

    Registered as a virtual subclass of ``onnxruntime.quantization.CalibrationDataReader`` when
    that imports, so ``quantize_static`` accepts it.
    """

    def __init__(self, data: Any) -> None:
        self.data = data
        self._it: Optional[Iterator[np.ndarray]] = None
        _register()

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        """The next ``{input name: tensor}``, or None at the end."""
        if self._it is None:
            self._it = iter(self.data)
        x = next(self._it, None)
        return None if x is None else {self.data.input_name: x}

    def rewind(self) -> None:
        """Start again from the first sample (same order)."""
        self._it = None

    def __iter__(self) -> OrtCalibrationReader:
        return self

    def __next__(self) -> Dict[str, np.ndarray]:
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item

    def __len__(self) -> int:
        return len(self.data)


_REGISTERED = False


def _register() -> None:
    global _REGISTERED
    if _REGISTERED:
        return
    try:
        from onnxruntime.quantization import CalibrationDataReader
    except ImportError:
        return
    register = getattr(CalibrationDataReader, "register", None)  # an abc.ABC in onnxruntime
    if register is not None:
        register(OrtCalibrationReader)
    _REGISTERED = True


def nncf_dataset(data: Any) -> Any:
    """``nncf.Dataset`` over the input tensors (``pip install nncf``; imported only here)."""
    nncf = require("nncf", "int8")
    return nncf.Dataset(data)
