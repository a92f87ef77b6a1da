"""The manifest's records of the conversion: the device-side engine build, the verification
figures and the reparameterization report. Typed and frozen like the rest of the manifest; each
section refuses a field it does not know, naming it.

The INT8 report is typed down to each fallback round (``edgekit.bundle.int8_record``); the
figures inside the records (one row per output, the detection summary) stay JSON objects: they
are written by ``edgekit.verify`` and read by people and ``edgekit show``, never by a runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Dict, Optional, Tuple

from edgekit.bundle import _fields as F
from edgekit.bundle.int8_record import Int8Report, int8_v1
from edgekit.devices.conversion_plan import ConversionPlan
from edgekit.vocab import PRECISIONS


@dataclass(frozen=True)
class EngineBuild:
    """How the device builds its engine from the bundle's ONNX (TensorRT): what ``edgekit build``
    and ``Detector`` do on the board, and the equivalent ``trtexec`` line per TensorRT version."""

    onnx: str  # the ONNX the engine is built from (the Q/DQ model for INT8)
    precision: str
    tensorrt: Optional[str] = None  # the TensorRT of the planned JetPack
    jetpack: Optional[str] = None
    workspace_mib: Optional[int] = None
    dla_core: Optional[int] = None
    gpu_fallback: bool = False
    max_batch: int = 1
    timing_cache: str = "timing.cache"
    trtexec: Optional[str] = None
    trtexec_by_tensorrt: Tuple[Tuple[str, str], ...] = ()  # (TensorRT version, trtexec line)
    batch: Optional[Tuple[int, int, int]] = None  # (min, opt, max) of a dynamic-batch engine
    onnx_fp16: Optional[str] = None  # TensorRT 11: the FP16 ONNX an FP16 engine is built from

    @classmethod
    def from_dict(cls, d: Dict[str, Any], path: str) -> EngineBuild:
        F.known_fields(d, path, cls)
        batch = None
        if d.get("batch") is not None:
            b = F.section(d, "batch", path)
            F.known(b, path + "batch.", ("min", "opt", "max"))
            batch = tuple(F.integer(b, k, path + "batch.", minimum=1) for k in ("min", "opt", "max"))
        lines = F.mapping(d, "trtexec_by_tensorrt", path)
        return cls(
            onnx=F.string(d, "onnx", path),
            precision=F.string(d, "precision", path, choices=PRECISIONS),
            tensorrt=F.opt_string(d, "tensorrt", path),
            jetpack=F.opt_string(d, "jetpack", path),
            workspace_mib=F.opt_integer(d, "workspace_mib", path, minimum=1),
            dla_core=F.opt_integer(d, "dla_core", path),
            gpu_fallback=F.boolean(d, "gpu_fallback", path),
            max_batch=F.integer(d, "max_batch", path, minimum=1, default=1),
            timing_cache=F.string(d, "timing_cache", path) if "timing_cache" in d else "timing.cache",
            trtexec=F.opt_string(d, "trtexec", path),
            trtexec_by_tensorrt=tuple((str(k), str(v)) for k, v in lines.items()),
            batch=batch,  # type: ignore[arg-type]
            onnx_fp16=F.opt_string(d, "onnx_fp16", path),
        )

    def to_dict(self) -> Dict[str, Any]:
        """As written: the lines by TensorRT as an object, ``batch`` as min/opt/max, the optional
        ``batch`` and ``onnx_fp16`` left out when unset."""
        d: Dict[str, Any] = {k: getattr(self, k) for k in F.field_names(EngineBuild)}
        d["trtexec_by_tensorrt"] = dict(self.trtexec_by_tensorrt)
        d["batch"] = dict(zip(("min", "opt", "max"), self.batch)) if self.batch else None
        return {k: v for k, v in d.items() if v is not None or k not in ("batch", "onnx_fp16")}


@dataclass(frozen=True)
class Verification:
    """The figures recorded when the bundle was converted (``edgekit.verify``): the ONNX
    simplification check, the images and bounds used, each backend's comparison with PyTorch,
    and the INT8 report. Empty sections are left out of the JSON."""

    onnx_simplify: Dict[str, Any] = field(default_factory=dict)
    backends_not_built: Tuple[str, ...] = ()
    images: Dict[str, Any] = field(default_factory=dict)
    bounds: Dict[str, Dict[str, Any]] = field(default_factory=dict)  # precision -> Bounds.to_dict()
    backends: Dict[str, Dict[str, Any]] = field(default_factory=dict)  # backend -> its figures
    int8: Optional[Int8Report] = None  # the INT8 build (per backend, each fallback round)

    @classmethod
    def from_dict(cls, d: Dict[str, Any], path: str) -> Verification:
        F.known_fields(d, path, cls)
        nested = {k: F.mapping(d, k, path) for k in ("bounds", "backends")}
        for key, items in nested.items():
            for name, value in items.items():
                if not isinstance(value, dict):
                    raise F.FieldError(f"'{path}{key}.{name}' must be an object")
        built = d.get("backends_not_built") or []
        if not isinstance(built, list) or not all(isinstance(b, str) for b in built):
            raise F.FieldError(f"'{path}backends_not_built' must be a list of strings")
        return cls(
            onnx_simplify=F.mapping(d, "onnx_simplify", path),
            backends_not_built=tuple(built),
            images=F.mapping(d, "images", path),
            bounds=nested["bounds"],
            backends=nested["backends"],
            int8=Int8Report.from_dict(d["int8"], f"{path}int8.") if d.get("int8") else None,
        )

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {
            "onnx_simplify": self.onnx_simplify,
            "backends_not_built": list(self.backends_not_built),
        }
        d.update({k: getattr(self, k) for k in ("images", "bounds", "backends") if getattr(self, k)})
        if self.int8 is not None:
            d["int8"] = self.int8.to_dict()
        return d

    def with_figures(self, **figures: Any) -> Verification:
        """These figures with ``figures`` (whole sections) replacing theirs."""
        return replace(self, **figures)


@dataclass(frozen=True)
class ReparamRecord:
    """The reparameterization report (``edgekit.reparam.ReparamReport.to_dict``): the model before
    and after, and one entry per pass with the largest output change it made."""

    passes: Tuple[Dict[str, Any], ...] = ()
    before: Dict[str, Any] = field(default_factory=dict)
    after: Dict[str, Any] = field(default_factory=dict)
    tolerance: Optional[float] = None
    flops_convention: str = ""
    latency: Dict[str, Any] = field(default_factory=dict)
    input_shape: Tuple[int, ...] = ()

    @classmethod
    def from_dict(cls, d: Dict[str, Any], path: str) -> ReparamRecord:
        F.known_fields(d, path, cls)
        passes = d.get("passes") or []
        if not isinstance(passes, list) or not all(isinstance(p, dict) and "name" in p for p in passes):
            raise F.FieldError(f"'{path}passes' must be a list of objects with a 'name'")
        return cls(
            passes=tuple(passes),
            before=F.mapping(d, "before", path),
            after=F.mapping(d, "after", path),
            tolerance=F.number(d, "tolerance", path) if d.get("tolerance") is not None else None,
            flops_convention=str(d.get("flops_convention") or ""),
            latency=F.mapping(d, "latency", path),
            input_shape=tuple(int(v or 0) for v in F.int_list(d, "input_shape", path))
            if "input_shape" in d
            else (),
        )

    def to_dict(self) -> Dict[str, Any]:
        return {
            "tolerance": self.tolerance,
            "flops_convention": self.flops_convention,
            "latency": self.latency,
            "input_shape": list(self.input_shape),
            "before": self.before,
            "after": self.after,
            "passes": list(self.passes),
        }


def plan_record(target: Dict[str, Any]) -> Optional[ConversionPlan]:
    """The ``target`` section as the ``ConversionPlan`` it records (None when empty)."""
    if not target:
        return None
    try:
        return ConversionPlan.from_dict(target)
    except ValueError as exc:
        raise F.FieldError(f"'target': {exc}") from None


def upgrade_v1(d: Dict[str, Any], version: int) -> Dict[str, Any]:
    """A schema-1 manifest as schema ``version`` (2): ``target.build`` moves to ``build``; the
    records that were untyped keep what the typed ones hold (a plan of an older layout, unknown
    verification figures and a reparam list are dropped: no runtime reads them)."""
    d = dict(d)
    target = dict(d.get("target") or {})
    build = target.pop("build", None)
    if build:
        d["build"] = build
    try:
        d["target"] = target if target and ConversionPlan.from_dict(target) else {}
    except ValueError:
        d["target"] = {}
    verification = d.get("verification")
    if isinstance(verification, dict):
        d["verification"] = {k: v for k, v in verification.items() if k in F.field_names(Verification)}
        if isinstance(verification.get("int8"), dict):
            d["verification"]["int8"] = int8_v1(verification["int8"])
    reparam = d.get("reparam")
    d["reparam"] = (
        {k: v for k, v in reparam.items() if k in F.field_names(ReparamRecord)}
        if isinstance(reparam, dict)
        else None
    )
    d["schema_version"] = version
    return d
