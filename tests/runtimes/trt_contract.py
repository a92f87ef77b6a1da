"""Stand-ins for TensorRT and cuda-python that behave like a small engine, from the real dumps.

``trt_standin(version, engine)`` answers what the code under test asks a parser, a network and
an engine (the shapes of ``engine``); everything else (which names exist, their signatures and
enum members) is the dump's. ``cuda_standin(version)`` hands out real host memory for
``cudaMallocHost`` (``HostBuffer`` maps it with ctypes) and integers for device pointers.
"""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest

from .bindings_standin import StandIn, dumps, standin

TRT_VERSIONS = dumps("tensorrt-")
CUDA_VERSIONS = dumps("cuda-")
Shape = Tuple[int, ...]


@dataclass
class FakeEngine:
    """What the engine reports: input/output shapes with -1 where dynamic, and how they resolve."""

    inputs: Dict[str, Shape] = field(default_factory=lambda: {"images": (1, 3, 64, 64)})
    outputs: Dict[str, Shape] = field(default_factory=lambda: {"boxes": (1, 4, 84), "scores": (1, 3, 84)})
    profile: Tuple[Shape, Shape, Shape] = ((1, 3, 64, 64),) * 3
    resolved: Dict[str, Shape] = field(default_factory=dict)  # set by set_input_shape

    @property
    def names(self) -> List[str]:
        return [*self.inputs, *self.outputs]

    def resolve(self, shape: Shape) -> None:
        """Every -1 of an output takes its concrete size: the batch, else the output's full size."""
        batch = int(shape[0])
        self.resolved = {"images": tuple(shape)}
        for name, dims in self.outputs.items():
            full = FULL_SIZES.get(name, dims)
            self.resolved[name] = tuple(
                batch if i == 0 else (full[i] if d < 0 else d) for i, d in enumerate(dims)
            )


FULL_SIZES = {"boxes": (1, 4, 84), "scores": (1, 3, 84)}


def trt_standin(version: str, engine: FakeEngine) -> StandIn:
    """A TensorRT stand-in from ``tests/data/tensorrt_api/<version>.json`` serving ``engine``."""
    trt = standin(version)
    trt.behave.update(
        {
            "ITensor.name": lambda _t: "images",
            "ITensor.shape": lambda _t: engine.inputs["images"],
            "INetworkDefinition.num_inputs": lambda _n: 1,
            "OnnxParser.num_errors": lambda _p: 0,
            "Builder.build_serialized_network": lambda *_a: b"engine",
            "ITimingCache.serialize": lambda _c: b"cache",
            "ICudaEngine.num_io_tensors": lambda _e: len(engine.names),
            "ICudaEngine.get_tensor_name": lambda _e, i: engine.names[i],
            "ICudaEngine.get_tensor_mode": lambda _e, name: (
                trt.TensorIOMode.INPUT if name in engine.inputs else trt.TensorIOMode.OUTPUT
            ),
            "ICudaEngine.get_tensor_shape": lambda _e, name: {**engine.inputs, **engine.outputs}[name],
            "ICudaEngine.get_tensor_dtype": lambda _e, _name: trt.DataType.FLOAT,
            "ICudaEngine.get_tensor_profile_shape": lambda _e, _name, _i: list(engine.profile),
            "IExecutionContext.set_input_shape": lambda _c, _name, shape: (
                engine.resolve(tuple(shape)) or True
            ),
            "IExecutionContext.get_tensor_shape": lambda _c, name: engine.resolved[name],
            "nptype": lambda _dtype: np.float32,
        }
    )
    return trt


def cuda_standin(version: str) -> StandIn:
    """A cuda-python runtime stand-in: every call succeeds; host memory is real."""
    rt = standin(version)
    ok = rt.cudaError_t.cudaSuccess
    keep: List[Any] = []

    def malloc_host(size: int) -> Tuple[Any, int]:
        buf = (ctypes.c_byte * int(size))()
        keep.append(buf)
        return ok, ctypes.addressof(buf)

    props = rt.new("cudaDeviceProp")
    object.__setattr__(props, "_values", {"name": b"Orin", "major": 8, "minor": 7})
    rt.behave.update(
        {
            "cudaMallocHost": malloc_host,
            "cudaMalloc": lambda size: (ok, 0x1000 + int(size)),
            "cudaStreamCreate": lambda: (ok, rt.new("cudaStream_t")),
            "cudaStreamEndCapture": lambda _s: (ok, rt.new("cudaGraph_t")),
            "cudaGraphInstantiateWithFlags": lambda _g, _f: (ok, rt.new("cudaGraphExec_t")),
            "cudaMemGetInfo": lambda: (ok, 8 << 30, 16 << 30),
            "cudaGetDeviceProperties": lambda _d: (ok, props),
        }
    )
    for name in (
        "cudaFreeHost",
        "cudaFree",
        "cudaMemcpyAsync",
        "cudaStreamSynchronize",
        "cudaStreamBeginCapture",
        "cudaGraphLaunch",
        "cudaGraphExecDestroy",
        "cudaGraphDestroy",
        "cudaStreamDestroy",
    ):
        rt.behave[name] = lambda *_a: (ok,)
    return rt


def install(monkeypatch: pytest.MonkeyPatch, trt: StandIn, rt: StandIn) -> None:
    """Make ``import tensorrt`` and edgekit's cuda-python module the stand-ins."""
    from edgekit.runtimes import cuda

    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setattr(cuda, "_CUDART", rt)


def called(mod: StandIn, key: str) -> List[Tuple[Any, ...]]:
    """The arguments of every recorded call of ``key`` (``"IBuilderConfig.set_flag"``)."""
    return [args for name, args in mod.calls if name == key]
