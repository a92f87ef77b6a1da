"""TensorRT backend (Jetson): name-based tensor I/O (TensorRT >= 8.5), cuda-python memory and streams.

Dynamic-batch engines get buffers for the largest batch of their optimization profile; each
batch size sets the input shape and reads every output's shape back from the execution context
(any dimension, not only the batch, may be -1 in the engine).

The bundle's artifact is the TensorRT-ready ONNX; the engine for this device is found under
``BUNDLE/engines/`` by its key, or built on first use (``build=False``: fail with the
``edgekit build`` command instead). Inputs are copied into pinned host memory, then to
preallocated device buffers on one stream; ``cuda_graph=True`` records the enqueue once and
replays it. Options: ``build`` (default True), ``cuda_graph`` (default False).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from edgekit._optional import require
from edgekit.errors import BackendError
from edgekit.runtimes.base import RUNTIMES, Runtime
from edgekit.runtimes.trt_engine import JETPACK_HINT, ensure_engine


@RUNTIMES.register("tensorrt")
class TensorRtRuntime(Runtime):
    """A TensorRT engine on the GPU (or a DLA core), fed from pinned host buffers."""

    backend = "tensorrt"
    accepted_options = ("build", "cuda_graph")

    def _load(self, path: Path) -> None:
        from edgekit.bundle import read_bundle
        from edgekit.runtimes import cuda

        trt = require("tensorrt", "tensorrt", JETPACK_HINT)
        if path.suffix == ".engine":
            engine_file = path
        else:  # the bundle's ONNX: find (or build) this device's engine
            bundle = read_bundle(path.parent)
            art = next(a for a in bundle.manifest.artifacts if a.path == path.name)
            engine_file = ensure_engine(
                bundle.root,
                bundle.manifest,
                art.path,
                art.sha256,
                allow_build=bool(self.options.get("build", True)),
            )
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.trt_runtime = trt.Runtime(self.logger)
        self.engine = self.trt_runtime.deserialize_cuda_engine(engine_file.read_bytes())
        if self.engine is None:
            raise BackendError(f"{engine_file}: TensorRT cannot load the engine (built by another version?)")
        self.engine_file = engine_file
        self.context = self.engine.create_execution_context()
        self.stream = cuda.Stream()
        self._allocate(trt)
        self._graph = bool(self.options.get("cuda_graph", False))
        self._captured: Optional[int] = None  # the batch the CUDA graph was recorded with

    def _allocate(self, trt: Any) -> None:
        """Buffers for the largest batch the engine takes; output shapes as the context resolves them."""
        from edgekit.runtimes import cuda

        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        if len(inputs) != 1:
            raise BackendError(f"{self.engine_file}: expected one input tensor, the engine has {inputs}")
        self.input_name = inputs[0]
        missing = [o.name for o in self.outputs if o.name not in names]
        if missing:
            raise BackendError(
                f"{self.engine_file}: the engine has no output(s) {missing} named in the manifest"
            )
        shape = tuple(int(d) for d in self.engine.get_tensor_shape(self.input_name))
        self.max_batch = self._max_batch(shape)
        self._host: Dict[str, Any] = {}
        self._device: Dict[str, Any] = {}
        full = self._set_batch(self.max_batch)
        for name in names:
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            self._host[name] = cuda.HostBuffer(full[name], dtype)
            self._device[name] = cuda.DeviceBuffer(self._host[name].nbytes)
            self.context.set_tensor_address(name, int(self._device[name].ptr))

    def _max_batch(self, shape: Tuple[int, ...]) -> int:
        """The static batch, or the largest of the engine's optimization profile (dynamic batch)."""
        if shape[0] >= 0:
            return shape[0]
        _low, _opt, high = self.engine.get_tensor_profile_shape(self.input_name, 0)
        return int(next(iter(high)))

    def _set_batch(self, batch: int) -> Dict[str, Tuple[int, ...]]:
        """Set the input shape for ``batch``; every tensor's shape as the context then resolves it."""
        shape = tuple(int(d) for d in self.engine.get_tensor_shape(self.input_name))
        self.context.set_input_shape(self.input_name, (batch, *shape[1:]))
        shapes = {}
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            shapes[name] = tuple(int(d) for d in self.context.get_tensor_shape(name))
            if any(d < 0 for d in shapes[name]):
                raise BackendError(
                    f"{self.engine_file}: {name} has a data-dependent shape {shapes[name]}, "
                    "which this runtime cannot size (export with static output shapes)"
                )
        self.batch = batch
        self.shapes = shapes
        return shapes

    def _view(self, name: str) -> np.ndarray:
        """The part of ``name``'s buffer that the current batch fills."""
        size = int(np.prod(self.shapes[name]))
        return self._host[name].array.reshape(-1)[:size].reshape(self.shapes[name])

    def _enqueue(self) -> None:
        from edgekit.runtimes import cuda

        stream = self.stream.handle
        src = self._view(self.input_name)
        cuda.copy_async(
            self._device[self.input_name].ptr, self._host[self.input_name].ptr, src.nbytes, True, stream
        )
        if not self.context.execute_async_v3(stream):
            raise BackendError(f"{self.engine_file}: TensorRT inference failed")
        for spec in self.outputs:
            nbytes = self._view(spec.name).nbytes
            cuda.copy_async(self._host[spec.name].ptr, self._device[spec.name].ptr, nbytes, False, stream)

    def _infer_impl(self, x: np.ndarray) -> List[np.ndarray]:
        if x.shape[0] > self.max_batch:
            raise BackendError(
                f"{self.engine_file}: the engine takes batches up to {self.max_batch}, got {x.shape[0]}"
            )
        if x.shape[0] != self.batch:
            self._set_batch(int(x.shape[0]))
        np.copyto(self._view(self.input_name), x, casting="same_kind")
        if self._graph and self._captured == self.batch:
            self.stream.replay()
        else:
            self._enqueue()  # TensorRT initializes lazily in its first enqueue: never capture that one
        if self._graph and self._captured is None:
            self.stream.synchronize()
            self.stream.capture(self._enqueue)  # later runs replay the copies and kernels as one graph
            self._captured = self.batch
        self.stream.synchronize()
        return [self._view(spec.name).copy() for spec in self.outputs]

    def close(self) -> None:
        for buffers in (getattr(self, "_host", {}), getattr(self, "_device", {})):
            for buf in buffers.values():
                buf.free()
            buffers.clear()
        stream = getattr(self, "stream", None)
        if stream is not None:
            stream.destroy()
            self.stream = None  # type: ignore[assignment]
        self.context = self.engine = None
