"""CUDA memory and streams for the TensorRT runtime via cuda-python (``edgekit-detect[tensorrt]``).

cuda-python 12.6.1 and later (cuda-bindings) name the runtime bindings ``cuda.bindings.runtime``;
older releases (11.8 on JetPack 5, 12.2 / 12.6.0 on JetPack 6) ``cuda.cudart``; 13.x has only the
new name. Every call returns ``(cudaError_t, *values)``; ``call`` checks the error and returns the
values. ``tests/runtimes/test_tensorrt_contract.py`` runs this module against stand-ins generated
from cuda-python 11.8, 12.2, 12.6 and 13.0's real bindings.
"""

from __future__ import annotations

import ctypes
import importlib
from typing import Any, Tuple

import numpy as np

from edgekit.errors import BackendError, MissingDependencyError

_CUDART: Any = None


def cudart() -> Any:
    """The cuda-python runtime module (new name first), imported once."""
    global _CUDART
    if _CUDART is None:
        for name in ("cuda.bindings.runtime", "cuda.cudart"):
            try:
                _CUDART = importlib.import_module(name)
                break
            except ImportError:
                continue
        else:
            raise MissingDependencyError("cuda", "tensorrt", "the TensorRT runtime uses cuda-python")
    return _CUDART


def call(result: Any, what: str) -> Any:
    """Check a cuda-python ``(err, *values)`` result; returns the value(s) (None when there are none)."""
    rt = cudart()
    err, values = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
    if err != rt.cudaError_t.cudaSuccess:
        _, text = rt.cudaGetErrorString(err)
        raise BackendError(f"CUDA {what} failed: {text.decode() if isinstance(text, bytes) else text}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def device_info(device: int = 0) -> Tuple[str, Tuple[int, int]]:
    """GPU name and compute capability of ``device``."""
    props = call(cudart().cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    return name.rstrip("\x00").strip(), (int(props.major), int(props.minor))


def free_memory() -> int:
    """Free device memory in bytes."""
    free, _total = call(cudart().cudaMemGetInfo(), "cudaMemGetInfo")
    return int(free)


class HostBuffer:
    """Page-locked host memory seen as a numpy array (fast, asynchronous copies)."""

    def __init__(self, shape: Tuple[int, ...], dtype: Any) -> None:
        self.nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        self.ptr = call(cudart().cudaMallocHost(self.nbytes), "cudaMallocHost")
        raw = (ctypes.c_byte * self.nbytes).from_address(int(self.ptr))
        self.array = np.frombuffer(raw, dtype=dtype).reshape(shape)

    def free(self) -> None:
        if self.ptr is not None:
            call(cudart().cudaFreeHost(self.ptr), "cudaFreeHost")
            self.ptr = None


class DeviceBuffer:
    """Device memory of ``nbytes``."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes = int(nbytes)
        self.ptr = call(cudart().cudaMalloc(self.nbytes), "cudaMalloc")

    def free(self) -> None:
        if self.ptr is not None:
            call(cudart().cudaFree(self.ptr), "cudaFree")
            self.ptr = None


def copy_async(dst: int, src: int, nbytes: int, to_device: bool, stream: Any) -> None:
    rt = cudart()
    kind = rt.cudaMemcpyKind.cudaMemcpyHostToDevice if to_device else rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
    call(rt.cudaMemcpyAsync(dst, src, nbytes, kind, stream), "cudaMemcpyAsync")


class Stream:
    """A CUDA stream, with optional CUDA-graph capture of the work queued on it."""

    def __init__(self) -> None:
        self.handle = call(cudart().cudaStreamCreate(), "cudaStreamCreate")
        self.graph: Any = None
        self.graph_exec: Any = None

    def synchronize(self) -> None:
        call(cudart().cudaStreamSynchronize(self.handle), "cudaStreamSynchronize")

    def capture(self, work: Any) -> None:
        """Record ``work()`` (queued on this stream) as a CUDA graph, replayed by ``replay``.

        ``cudaGraphInstantiateWithFlags``: the one signature shared by cuda-python 11.x to 13.x
        (``cudaGraphInstantiate`` lost its log-buffer arguments in 12.0).
        """
        rt = cudart()
        mode = rt.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal
        call(rt.cudaStreamBeginCapture(self.handle, mode), "cudaStreamBeginCapture")
        work()
        self.graph = call(rt.cudaStreamEndCapture(self.handle), "cudaStreamEndCapture")
        self.graph_exec = call(
            rt.cudaGraphInstantiateWithFlags(self.graph, 0), "cudaGraphInstantiateWithFlags"
        )

    def replay(self) -> None:
        call(cudart().cudaGraphLaunch(self.graph_exec, self.handle), "cudaGraphLaunch")

    def destroy(self) -> None:
        rt = cudart()
        if self.graph_exec is not None:
            call(rt.cudaGraphExecDestroy(self.graph_exec), "cudaGraphExecDestroy")
            call(rt.cudaGraphDestroy(self.graph), "cudaGraphDestroy")
            self.graph_exec = self.graph = None
        if self.handle is not None:
            call(rt.cudaStreamDestroy(self.handle), "cudaStreamDestroy")
            self.handle = None
