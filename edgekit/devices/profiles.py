"""Typed, frozen descriptions of a *target* device (never the build host).

A ``DeviceProfile`` is data: what the device can run (backends, precisions, DLA),
which software stack it ships (``JetPackRelease``) and how INT8 must be quantized
for each of its backends (``Int8Constraints``). ``edgekit.devices.plan`` turns a
profile plus user flags into a ``ConversionPlan``.

Standard library only: this module is imported on the device (Python >= 3.8).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from edgekit.vocab import PRECISIONS


@dataclass(frozen=True)
class JetPackRelease:
    """One JetPack release line as NVIDIA ships it (versions of the target's stack)."""

    version: str  # "6.2"
    l4t: str  # Jetson Linux release, "36.4.3"
    tensorrt: str  # "10.3"
    cuda: str  # "12.6"
    python: str  # system Python of the release's Ubuntu, "3.10"
    ubuntu: str  # "22.04"
    max_opset: int  # highest ONNX opset the bundled TensorRT ONNX parser accepts
    dla: bool  # the bundled TensorRT can build DLA engines (TensorRT <= 10.7)
    source: str  # where these versions were checked

    @property
    def python_tuple(self) -> Tuple[int, int]:
        major, minor = self.python.split(".")[:2]
        return int(major), int(minor)

    @property
    def tensorrt_tuple(self) -> Tuple[int, int]:
        major, minor = self.tensorrt.split(".")[:2]
        return int(major), int(minor)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "version": self.version,
            "l4t": self.l4t,
            "tensorrt": self.tensorrt,
            "cuda": self.cuda,
            "python": self.python,
            "ubuntu": self.ubuntu,
            "max_opset": self.max_opset,
            "dla": self.dla,
            "source": self.source,
        }


@dataclass(frozen=True)
class Int8Constraints:
    """How INT8 must be produced for one backend on one device."""

    backend: str
    scheme: str  # short label stored in the plan, e.g. "qdq-u8s8-reduce-range"
    activation_type: str  # "int8" | "uint8"
    weight_type: str  # "int8"
    activation_symmetric: bool  # zero point fixed at 0 (TensorRT requires it)
    per_channel: bool  # per-output-channel weight scales
    reduce_range: bool  # 7-bit weights (onnxruntime, x86 without VNNI)
    overflow_fix: Optional[str] = None  # NNCF OverflowFix: "enable" | "first_layer" | "disable"
    note: str = ""

    def to_dict(self) -> Dict[str, Any]:
        return {
            "backend": self.backend,
            "scheme": self.scheme,
            "activation_type": self.activation_type,
            "weight_type": self.weight_type,
            "activation_symmetric": self.activation_symmetric,
            "per_channel": self.per_channel,
            "reduce_range": self.reduce_range,
            "overflow_fix": self.overflow_fix,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> Int8Constraints:
        return cls(
            backend=str(data["backend"]),
            scheme=str(data["scheme"]),
            activation_type=str(data["activation_type"]),
            weight_type=str(data["weight_type"]),
            activation_symmetric=bool(data["activation_symmetric"]),
            per_channel=bool(data["per_channel"]),
            reduce_range=bool(data["reduce_range"]),
            overflow_fix=data.get("overflow_fix"),
            note=str(data.get("note", "")),
        )


@dataclass(frozen=True)
class BackendSupport:
    """One backend on one device: the precisions it runs there."""

    name: str
    precisions: Tuple[str, ...]
    explicit: bool = False  # built only when named with --backend (e.g. TFLite on x86)

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"name": self.name, "precisions": list(self.precisions)}
        if self.explicit:
            d["explicit"] = True
        return d


@dataclass(frozen=True)
class DeviceProfile:
    """A target device. ``backends`` is in order of preference (fastest first)."""

    name: str  # canonical name, e.g. "jetson-orin-nano"
    title: str  # "NVIDIA Jetson Orin Nano"
    family: str  # "jetson" | "raspberry-pi" | "x86" | "arm64"
    arch: str  # "aarch64" | "x86_64"
    cpu: str
    accelerator: Optional[str]  # GPU description, None for CPU-only targets
    memory_gb: Tuple[int, ...]  # module variants; () when it depends on the machine
    backends: Tuple[BackendSupport, ...]
    default_precision: str
    int8: bool  # any backend runs INT8 here
    fp16: bool  # FP16 arithmetic in hardware
    dla_cores: int = 0
    jetpacks: Tuple[JetPackRelease, ...] = ()
    default_jetpack: Optional[str] = None
    python: Optional[str] = None  # the OS's Python for non-Jetson boards
    os: Optional[str] = None
    imgsz: Tuple[int, int] = (640, 640)  # (height, width)
    max_opset: int = 19  # non-Jetson: what the ONNX runtimes on the device read
    dfl: str = "fused"
    output: str = "split"
    graph_nms: bool = False
    int8_constraints: Tuple[Int8Constraints, ...] = ()
    cpu_flags: Tuple[str, ...] = ()  # x86: any of these /proc/cpuinfo flags selects the profile
    aliases: Tuple[str, ...] = ()
    notes: Tuple[str, ...] = field(default_factory=tuple)

    # ---- queries -------------------------------------------------------------------

    @property
    def is_jetson(self) -> bool:
        return self.family == "jetson"

    @property
    def backend_names(self) -> Tuple[str, ...]:
        """The backends a plan uses by default (explicit-only ones are left out)."""
        return tuple(b.name for b in self.backends if not b.explicit)

    def backend(self, name: str) -> Optional[BackendSupport]:
        for support in self.backends:
            if support.name == name:
                return support
        return None

    def backends_for(self, precision: str) -> Tuple[str, ...]:
        """Backends (in preference order) that run ``precision`` on this device by default."""
        return tuple(b.name for b in self.backends if precision in b.precisions and not b.explicit)

    @property
    def precisions(self) -> Tuple[str, ...]:
        return tuple(p for p in PRECISIONS if self.backends_for(p))

    def jetpack(self, version: Optional[str] = None) -> Optional[JetPackRelease]:
        """The named JetPack release (default: the profile's default), or None."""
        wanted = version if version is not None else self.default_jetpack
        for release in self.jetpacks:
            if release.version == wanted:
                return release
        return None

    def int8_for(self, backend: str) -> Optional[Int8Constraints]:
        for constraints in self.int8_constraints:
            if constraints.backend == backend:
                return constraints
        return None

    @property
    def min_memory_gb(self) -> Optional[int]:
        return min(self.memory_gb) if self.memory_gb else None

    def to_dict(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "family": self.family,
            "arch": self.arch,
            "cpu": self.cpu,
            "accelerator": self.accelerator,
            "memory_gb": list(self.memory_gb),
            "backends": [b.to_dict() for b in self.backends],
            "default_precision": self.default_precision,
            "int8": self.int8,
            "fp16": self.fp16,
            "dla_cores": self.dla_cores,
            "jetpacks": [j.to_dict() for j in self.jetpacks],
            "default_jetpack": self.default_jetpack,
            "python": self.python,
            "os": self.os,
            "imgsz": list(self.imgsz),
            "max_opset": self.max_opset,
            "dfl": self.dfl,
            "output": self.output,
            "graph_nms": self.graph_nms,
            "int8_constraints": [c.to_dict() for c in self.int8_constraints],
            "cpu_flags": list(self.cpu_flags),
            "aliases": list(self.aliases),
            "notes": list(self.notes),
        }
