"""TensorRT backend (Jetson): name-based tensor I/O (TensorRT >= 8.5), cuda-python memory and streams.

The bundle's artifact is the TensorRT-ready ONNX; the engine for this device is found under
``BUNDLE/engines/`` by its key, or built on first use (``build=False``: fail with the
``edgekit build`` command instead). Inputs are copied into pinned host memory, then to
preallocated device buffers on one stream; ``cuda_graph=True`` records the enqueue once and
replays it. Options: ``build`` (default True), ``cuda_graph`` (default False).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

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
        self.context = self.engine.create_execution_context()
        self.stream = cuda.Stream()
        self._host: Dict[str, Any] = {}
        self._device: Dict[str, Any] = {}
        inputs: List[str] = []
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            shape = tuple(int(d) for d in self.engine.get_tensor_shape(name))
            if any(d < 0 for d in shape):  # dynamic batch: size the buffers for the manifest's batch
                shape = (self.inp.batch or 1, *shape[1:])
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            self._host[name] = cuda.HostBuffer(shape, dtype)
            self._device[name] = cuda.DeviceBuffer(self._host[name].nbytes)
            self.context.set_tensor_address(name, int(self._device[name].ptr))
            if self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                inputs.append(name)
                self.context.set_input_shape(name, shape)
        if len(inputs) != 1:
            raise BackendError(f"{engine_file}: expected one input tensor, the engine has {inputs}")
        self.input_name = inputs[0]
        missing = [o.name for o in self.outputs if o.name not in self._host]
        if missing:
            raise BackendError(f"{engine_file}: the engine has no output(s) {missing} named in the manifest")
        self.engine_file = engine_file
        self._graph = bool(self.options.get("cuda_graph", False))
        self._captured = False

    def _enqueue(self) -> None:
        from edgekit.runtimes import cuda

        stream = self.stream.handle
        src = self._host[self.input_name]
        cuda.copy_async(self._device[self.input_name].ptr, src.ptr, src.nbytes, True, stream)
        if not self.context.execute_async_v3(stream):
            raise BackendError(f"{self.engine_file}: TensorRT inference failed")
        for spec in self.outputs:
            dst = self._host[spec.name]
            cuda.copy_async(dst.ptr, self._device[spec.name].ptr, dst.nbytes, False, stream)

    def _infer_impl(self, x: np.ndarray) -> List[np.ndarray]:
        np.copyto(self._host[self.input_name].array, x, casting="same_kind")
        if self._graph and self._captured:
            self.stream.replay()
        else:
            self._enqueue()  # TensorRT initializes lazily in its first enqueue: never capture that one
        if self._graph and not self._captured:
            self.stream.synchronize()
            self.stream.capture(self._enqueue)  # later runs replay the copies and kernels as one graph
            self._captured = True
        self.stream.synchronize()
        return [self._host[spec.name].array.copy() for spec in self.outputs]

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
