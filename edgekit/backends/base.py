"""What a backend is, as data: one ``Backend`` per backend, in one registry.

Every consumer reads the descriptor instead of keeping its own table: ``doctor`` (what to import,
which extra installs it), ``Detector`` (which runtime module), the plan and the CLI (names,
preference order, which backends read ONNX or carry NMS), the manifest reader (valid names), the
converters (which precisions an artifact can hold, Q/DQ INT8, whether the model is built on the
device) and the Triton exporter. Standard library only: the on-device side imports this.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple

from edgekit.registry import Registry


@dataclass(frozen=True)
class Module:
    """An importable Python module a backend needs, and what installs it."""

    name: str  # import name: "ai_edge_litert"
    distribution: str  # what pip calls it: "ai-edge-litert"
    extra: str  # the extra of edgekit-detect that installs it
    note: str = ""  # where it comes from when pip does not install it ("JetPack")


@dataclass(frozen=True)
class Serving:
    """How Triton Inference Server serves a backend's artifact (``edgekit.bundle.triton``)."""

    line: str  # the config's platform/backend line: 'platform: "onnxruntime_onnx"'
    files: Tuple[Tuple[str, str], ...]  # (suffix of the bundle's file, the name Triton expects)
    order: int  # which of a bundle's servable models is picked when none is named (lower first)
    device: str = "any"  # "cpu": on CPUs only; "gpu": on a GPU unless told otherwise; "any": the target's
    engine_line: str = ""  # the line for an engine built from the artifact on the device


@dataclass(frozen=True)
class Backend:
    """One inference backend: how it is installed, run, written and quantized."""

    name: str  # the name in plans, manifests and --backend
    title: str  # for people: "ONNX Runtime"
    rank: int  # plans list a device's backends in this order (lower first)
    modules: Tuple[Module, ...]  # alternatives that run it, preferred first (LiteRT or tflite-runtime)
    companions: Tuple[Module, ...] = ()  # also needed beside one of ``modules`` (cuda-python for TensorRT)
    runtime: str = ""  # the module registering its ``Runtime`` (imported only when the backend is used)
    precisions: Tuple[str, ...] = ("fp32",)  # what a bundle's artifact for it can hold
    reads_onnx: bool = False  # it reads the exported ONNX (opset limits apply)
    graph_nms: bool = False  # its graph can carry NMS
    qdq_int8: bool = False  # INT8 as a Q/DQ ONNX (onnxruntime's quantizer writes it)
    built_on_device: bool = False  # the bundle carries the ONNX; the engine is built on the board
    # precisions its runtime computes a float model in when told (OpenVINO's CPU hint; the first is
    # what edgekit sets by default); empty: it runs a model in the model's own precision
    precision_hints: Tuple[str, ...] = ()
    # runtime options for throughput with an async request queue (``Runtime.infer_many``); empty:
    # throughput is measured with batches or one image after another
    throughput_options: Tuple[Tuple[str, str], ...] = ()
    # converter-side hooks, "module:function", imported only when a conversion needs them (the
    # on-device side never does): the artifact writer (``edgekit.converters.artifacts.ArtifactWriter``)
    # and the INT8 quantizer (``edgekit.converters.int8.Quantizer``)
    writer: str = ""
    quantizer: str = ""
    ranking: str = ""  # the INT8 fallback's layer ranking (``edgekit.converters.int8.Ranking``)
    # ``(build) -> EngineBuild``: checks the ONNX against the device's parser and records how the
    # device builds its engine (backends ``built_on_device``)
    device_build: str = ""
    # ``(build) -> None``: writes the float model the INT8 quantizer starts from, where that is not
    # the FP32 ONNX (LiteRT quantizes a FP32 .tflite of the same module)
    int8_source: str = ""
    calibration: str = "minmax"  # the calibration method when none is named (asymmetric schemes)
    host_io: bool = False  # its ONNX can take uint8 pixels and give the host's outputs (host_io)
    integer_io: bool = False  # an INT8 model of it can take int8 input and give int8 outputs (--int8-io)
    # the plan's runtime option that says which precision a float model computes in, and its value
    # per plan precision (OpenVINO picks bf16 on AMX and f16 on ARM by itself: the plan says)
    precision_option: str = ""
    precision_values: Tuple[Tuple[str, str], ...] = ()
    serving: Optional[Serving] = None  # Triton Inference Server serves its artifact so
    probe: Optional[Callable[[Any], str]] = None  # doctor's detail line from the imported module

    @property
    def module(self) -> Module:
        """The preferred module (what ``pip install`` suggests when none imports)."""
        return self.modules[0]

    def importable(self) -> Optional[str]:
        """The first of ``modules`` that can be imported here, without importing it, or None."""
        return next((m.name for m in self.modules if _findable(m.name)), None)

    def precision_value(self, precision: str) -> str:
        """``precision_option``'s value for a plan of ``precision`` (FP32's for INT8 and the rest)."""
        values = dict(self.precision_values)
        return values.get(precision, values.get("fp32", ""))

    def all_modules(self) -> Tuple[Module, ...]:
        return (*self.modules, *self.companions)

    def hook(self, kind: str) -> Callable[..., Any]:
        """The converter-side function a hook field (``writer``, ``quantizer``, ...) names."""
        ref = getattr(self, kind)
        if not ref:
            raise NotImplementedError(f"backend {self.name} has no {kind}")
        module, _, name = ref.partition(":")
        return getattr(importlib.import_module(module), name)


def _findable(name: str) -> bool:
    # edgekit._optional.available, which cannot be imported here: it reads the extras from BACKENDS
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


BACKENDS: Registry[Backend] = Registry("backend")


def register(backend: Backend) -> Backend:
    """Add a descriptor to ``BACKENDS`` (each ``edgekit/backends/<name>.py`` calls this once)."""
    return BACKENDS.register(backend.name)(backend)
