"""OpenVINO backend (``pip install "edgekit-detect[openvino]"``): IR on the CPU plugin, sync and async."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from edgekit._optional import require
from edgekit.errors import BackendError, first_line
from edgekit.runtimes.base import RUNTIMES, Runtime

#: user precision -> INFERENCE_PRECISION_HINT value
PRECISION_HINTS = {"fp32": "f32", "f32": "f32", "bf16": "bf16", "fp16": "f16", "f16": "f16"}
MODES = {"latency": "LATENCY", "throughput": "THROUGHPUT"}

Callback = Callable[[Dict[str, np.ndarray], Any], None]

_CORE: Optional[Any] = None
_CORE_LOCK = threading.Lock()


def shared_core(ov: Any) -> Any:
    """One ``ov.Core`` per process, as OpenVINO recommends. With a Core per model, tests/bench
    aborted now and then under load (SIGABRT in a native thread while the next model was read);
    not seen since this change, though the cause was not proven."""
    global _CORE
    with _CORE_LOCK:
        if _CORE is None:
            _CORE = ov.Core()
        return _CORE


@RUNTIMES.register("openvino")
class OpenVinoRuntime(Runtime):
    """An IR compiled for ``device`` (default ``CPU``).

    Options: ``precision`` (default ``fp32``: ``INFERENCE_PRECISION_HINT=f32`` is always set,
    because the CPU plugin would otherwise run bf16 on AMX / f16 on ARM; ``bf16`` / ``fp16`` opt
    in), ``mode`` (``latency`` default, or ``throughput``), ``threads`` (``INFERENCE_NUM_THREADS``),
    ``device``, ``config`` (further raw properties).
    """

    backend = "openvino"
    accepted_options = ("precision", "mode", "config", "device")

    def _load(self, path: Path) -> None:
        ov = require("openvino", "openvino")
        precision = str(self.options.get("precision") or "fp32").lower()
        mode = str(self.options.get("mode") or "latency").lower()
        if precision not in PRECISION_HINTS:
            raise BackendError(f"openvino: precision {precision!r} is not one of {sorted(PRECISION_HINTS)}")
        if mode not in MODES:
            raise BackendError(f"openvino: mode {mode!r} is not one of {sorted(MODES)}")
        config: Dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision],
            "PERFORMANCE_HINT": MODES[mode],
        }
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = int(self.threads)
        config.update(self.options.get("config") or {})
        self.device = str(self.options.get("device") or "CPU")
        try:
            self.core = shared_core(ov)
            model = self.core.read_model(str(path))
            self.compiled = self.core.compile_model(model, self.device, config)
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises its own exception types
            raise BackendError(f"{path}: openvino cannot load the model ({first_line(exc)})") from None
        self.use_compiled(self.compiled, str(path))

    def use_compiled(self, compiled: Any, source: str = "the compiled model") -> None:
        """Run ``compiled`` (an ``openvino.CompiledModel`` with this model's inputs and outputs)
        from now on: NNCF's accuracy control hands each candidate INT8 model over compiled."""
        names = {name for out in compiled.outputs for name in out.get_names()}
        missing = [o.name for o in self.outputs if o.name not in names]
        if missing:
            raise BackendError(f"{source}: the model has no output(s) {missing} named in the manifest")
        self.compiled = compiled
        self._ports = [compiled.output(o.name) for o in self.outputs]
        self._request = compiled.create_infer_request()
        self._queue: Any = None

    def get_property(self, name: str) -> Any:
        """A property of the compiled model, e.g. ``INFERENCE_PRECISION_HINT``."""
        return self.compiled.get_property(name)

    @property
    def precision_hint(self) -> str:
        """The precision the CPU plugin computes in (``f32``, ``bf16``, ``f16``), read back."""
        value = self.get_property("INFERENCE_PRECISION_HINT")  # an openvino.Type
        return str(value.get_type_name() if hasattr(value, "get_type_name") else value).lower()

    @property
    def optimal_requests(self) -> int:
        return int(self.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))

    def _collect(self, request: Any) -> List[np.ndarray]:
        return [np.array(request.get_tensor(port).data, copy=True) for port in self._ports]

    def _infer_impl(self, x: np.ndarray) -> List[np.ndarray]:
        self._request.infer({0: x})
        return self._collect(self._request)

    # ---- asynchronous path (batch / throughput) ---------------------------------------

    def _named(self, arrays: List[np.ndarray]) -> Dict[str, np.ndarray]:
        return {spec.name: arr for spec, arr in zip(self.outputs, arrays)}

    def infer_async(self, x: np.ndarray, callback: Callback, userdata: Any = None) -> None:
        """Queue ``x``; ``callback(outputs, userdata)`` runs when it is done (call ``wait()``).

        Input checks are the same as ``infer``'s; up to ``optimal_requests`` run at once.
        """
        self.check_input(x)
        if self._queue is None:
            ov = require("openvino", "openvino")
            self._queue = ov.AsyncInferQueue(self.compiled, max(1, self.optimal_requests))
            self._queue.set_callback(self._on_done)
        self._queue.start_async({0: np.ascontiguousarray(x)}, (callback, userdata))

    def _on_done(self, request: Any, data: Tuple[Callback, Any]) -> None:
        callback, userdata = data
        callback(self._named(self._collect(request)), userdata)

    def wait(self) -> None:
        """Block until every queued ``infer_async`` has finished and called back."""
        if self._queue is not None:
            self._queue.wait_all()

    def infer_many(self, batches: Iterable[np.ndarray]) -> Iterator[Dict[str, np.ndarray]]:
        """Run ``batches`` through the async queue; yields the outputs in input order."""
        results: Dict[int, Dict[str, np.ndarray]] = {}

        def done(outputs: Dict[str, np.ndarray], index: int) -> None:
            results[index] = outputs

        count = 0
        for count, x in enumerate(batches, 1):
            self.infer_async(x, done, count - 1)
        self.wait()
        for i in range(count):
            yield results.pop(i)

    def close(self) -> None:
        if getattr(self, "_queue", None) is not None:
            self._queue.wait_all()
        self._queue = None
        self._request = None
        self.compiled = None
        self.core = None
