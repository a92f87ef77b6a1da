"""onnxruntime backend (``pip install "edgekit-detect[onnx]"``)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import numpy as np

from edgekit._optional import require
from edgekit.errors import BackendError, first_line
from edgekit.runtimes.base import RUNTIMES, Runtime

SPINNING = ("run", "always", "never")


@RUNTIMES.register("onnxruntime")
class OnnxRuntime(Runtime):
    """onnxruntime session; ``threads`` sets intra-op threads, ``providers`` the execution providers.

    ``spinning``: ``"always"`` (default, onnxruntime's own) worker threads busy-wait between runs
    too; ``"run"`` they stop when a run returns (less CPU between frames; on this 2-core VM
    neither inference nor pre/post-processing time changed measurably); ``False`` / ``"never"``
    never spins (frees the cores for capture and encoding threads on small boards).
    """

    backend = "onnxruntime"
    accepted_options = ("spinning", "providers")

    def _load(self, path: Path) -> None:
        ort = require("onnxruntime", "onnx")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads:
            opts.intra_op_num_threads = int(self.threads)
            opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        spinning = self.options.get("spinning", "always")
        spinning = {True: "always", False: "never"}.get(spinning, spinning)
        if spinning not in SPINNING:
            raise BackendError(f"onnxruntime: spinning {spinning!r} is not one of {list(SPINNING)}")
        if spinning == "never":
            # no busy-waiting at all: frees the cores for other threads (capture, encoding) on
            # small boards, but costs inference time (4.9 vs 8.4 ms for a small model here)
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        elif spinning == "run":
            # spin while the run lasts, stop when it returns
            opts.add_session_config_entry("session.force_spinning_stop", "1")
        available = ort.get_available_providers()
        providers = self.options.get("providers") or [
            p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available
        ]
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            message = first_line(exc)
            raise BackendError(f"{path}: onnxruntime cannot load the model ({message})") from None
        self.input_name = self.session.get_inputs()[0].name
        names = {o.name for o in self.session.get_outputs()}
        missing = [o.name for o in self.outputs if o.name not in names]
        if missing:
            raise BackendError(f"{path}: the model has no output(s) {missing} named in the manifest")
        self._names = [o.name for o in self.outputs]

    @property
    def providers(self) -> List[str]:
        return list(self.session.get_providers())

    def _infer_impl(self, x: np.ndarray) -> List[np.ndarray]:
        return self.session.run(self._names, {self.input_name: x})

    def _infer_some(self, x: np.ndarray, names: List[str]) -> Dict[str, np.ndarray]:
        # outputs not fetched stay in onnxruntime's arena: no copy (80 x 8,400 scores: 2.7 MB a frame)
        return dict(zip(names, self.session.run(names, {self.input_name: x})))

    def close(self) -> None:
        self.session = None  # type: ignore[assignment]
