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
        self._left: Optional[int] = None  # samples the current range still yields (None: all)
        _register()

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        """The next ``{input name: tensor}``, or None at the end (of the range, if one is set)."""
        if self._left is not None:
            if self._left <= 0:
                return None
            self._left -= 1
        if self._it is None:
            self._it = iter(self.data)
        x = next(self._it, None)
        if x is None and self._left is not None:  # fewer readable images than planned: wrap around
            self._it = iter(self.data)
            x = next(self._it, None)
        return None if x is None else {self.data.input_name: x}

    def set_range(self, start_index: int, end_index: int) -> None:
        """The next ``end_index - start_index`` samples (onnxruntime's strided calibration calls this
        with consecutive ranges; the samples continue from where the previous range stopped)."""
        self._left = end_index - start_index
        if start_index == 0:
            self._it = None

    def rewind(self) -> None:
        """Start again from the first sample (same order), no range."""
        self._it, self._left = None, None

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
