"""The runtime contract: one wrapper per backend, validated once in ``infer``, backends in ``_infer_impl``."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type

import numpy as np

from edgekit._closing import Closing
from edgekit.bundle.manifest import InputSpec, OutputSpec
from edgekit.errors import BackendError
from edgekit.registry import Registry

NP_DTYPES = {"float32": np.float32, "float16": np.float16, "uint8": np.uint8, "int8": np.int8}


class Runtime(Closing):
    """A loaded model of one backend. Use as a context manager or call ``close()``.

    Subclasses implement ``_load(path)`` and ``_infer_impl(x) -> list of arrays`` in manifest
    output order; ``infer`` checks shape and dtype against the manifest before calling it.
    """

    backend = ""
    #: the keyword options this backend reads (``Detector(bundle, **options)``); others are refused
    accepted_options: Tuple[str, ...] = ()

    def __init__(
        self,
        model_path: Path,
        inp: InputSpec,
        outputs: Sequence[OutputSpec],
        threads: Optional[int] = None,
        **options: Any,
    ) -> None:
        unknown = sorted(set(options) - set(self.accepted_options))
        if unknown:
            close = [m for u in unknown for m in difflib.get_close_matches(u, self.accepted_options, n=1)]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            accepted = ", ".join(self.accepted_options) or "none"
            raise BackendError(
                f"{self.backend}: unknown option {', '.join(unknown)}{hint}; it accepts: {accepted}"
            )
        self.model_path = Path(model_path)
        self.inp = inp
        self.outputs = list(outputs)
        self.threads = threads
        self.options = options
        self._dtype = np.dtype(NP_DTYPES[inp.dtype])
        self._load(self.model_path)

    @property
    def dynamic_batch(self) -> bool:
        return self.inp.batch is None

    def _expected_shape(self, batch: int) -> tuple:
        if self.inp.layout == "NCHW":
            return (batch, 3, self.inp.height, self.inp.width)
        return (batch, self.inp.height, self.inp.width, 3)

    def infer(self, x: np.ndarray, outputs: Optional[Sequence[str]] = None) -> Dict[str, np.ndarray]:
        """Run one batch; returns ``{output name: array}`` for every output, or for those named in
        ``outputs`` (a backend that can leave the others in its own memory does: onnxruntime)."""
        self.check_input(x)
        x = np.ascontiguousarray(x)
        if outputs is None:
            return {spec.name: arr for spec, arr in zip(self.outputs, self._infer_impl(x))}
        return self._infer_some(x, [spec.name for spec in self.outputs if spec.name in outputs])

    def _infer_some(self, x: np.ndarray, names: List[str]) -> Dict[str, np.ndarray]:
        """Outputs ``names`` only; backends that fetch outputs one by one override this."""
        arrays = dict(zip((spec.name for spec in self.outputs), self._infer_impl(x)))
        return {name: arrays[name] for name in names}

    def check_input(self, x: np.ndarray) -> None:
        """Raise ``BackendError`` unless ``x`` has the manifest's shape and dtype."""
        if not isinstance(x, np.ndarray):
            raise BackendError(f"{self.backend}: input must be a numpy array, got {type(x).__name__}")
        batch = x.shape[0] if x.ndim == 4 else -1
        if self.inp.batch is not None and batch != self.inp.batch:
            raise BackendError(f"{self.backend}: the model takes batch {self.inp.batch}, got shape {x.shape}")
        if x.shape != self._expected_shape(batch):
            raise BackendError(
                f"{self.backend}: input shape {x.shape} != {self._expected_shape(max(batch, 1))}"
            )
        if x.dtype != self._dtype:
            raise BackendError(f"{self.backend}: input dtype {x.dtype} != {self._dtype}")

    def _load(self, path: Path) -> None:
        raise NotImplementedError

    def _infer_impl(self, x: np.ndarray) -> List[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the backend's resources (idempotent)."""


RUNTIMES: Registry[Type[Runtime]] = Registry("runtime")
