"""The conversion plan: what ``--target`` plus the user's flags mean, precisely.

``edgekit.devices.plan.resolve_plan`` builds a ``ConversionPlan``; the converters read
it, ``convert`` prints ``plan.describe()`` before starting and the manifest stores
``plan.to_dict()`` (read back with ``ConversionPlan.from_dict``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from edgekit.backends import BACKENDS, NAMES
from edgekit.devices.profiles import Int8Constraints
from edgekit.errors import ConversionError
from edgekit.vocab import DFL_MODES, NMS_PLACEMENTS, OUTPUT_FORMS, PRECISIONS

PLAN_SCHEMA = 1
DEFAULT_MAX_BATCH = 8  # dynamic-batch engines without --max-batch
GRID_SAMPLE_OPSET = 16  # the first ONNX opset with GridSample (RT-DETR's deformable attention)


@dataclass(frozen=True)
class ConversionPlan:
    """Everything a converter needs to know about the target. Immutable and versioned."""

    target: str  # canonical profile name
    title: str
    alias_used: Optional[str]  # "jetson", "rpi", "cpu", ... or None
    arch: str
    backends: Tuple[str, ...]  # artifacts to produce; the runtime prefers the first importable
    precision: str  # "fp32" | "fp16" | "int8"
    opset: int
    imgsz: Tuple[int, int]  # (height, width)
    dynamic_batch: bool
    dfl: str  # "fused" (in graph) | "host" (raw DFL logits out) | "none" (head has no DFL)
    output: str  # "split" boxes+scores | "concat" | "end2end" (top-k) | "nms" (4 NMS tensors)
    nms: str  # "host" | "graph" | "none" (NMS-free head)
    calibration: bool  # INT8 needs calibration images
    min_calibration_images: int
    keep_head_float: bool  # decode / DFL / sigmoid stay out of quantization
    int8: Tuple[Int8Constraints, ...]  # one per backend when precision is int8
    jetpack: Optional[str] = None
    l4t: Optional[str] = None
    tensorrt: Optional[str] = None
    cuda: Optional[str] = None
    python: Optional[str] = None  # the target's system Python, when known
    dla_core: Optional[int] = None
    workspace_mib: Optional[int] = None  # TensorRT builder workspace cap (from device memory)
    trtexec_flags: Tuple[str, ...] = ()
    backend_options: Tuple[Tuple[str, str, str], ...] = ()  # (backend, key, value)
    convert_only: bool = False  # no edgekit runtime on the device (Python < 3.8)
    notes: Tuple[str, ...] = ()
    schema: int = PLAN_SCHEMA
    max_batch: Optional[int] = None  # dynamic batch: the largest batch (default DEFAULT_MAX_BATCH)

    def __post_init__(self) -> None:
        for field_name, value, known in (
            ("precision", self.precision, PRECISIONS),
            ("dfl", self.dfl, DFL_MODES),
            ("output", self.output, OUTPUT_FORMS),
            ("nms", self.nms, NMS_PLACEMENTS),
            *(("backends", b, NAMES) for b in self.backends),
        ):
            if value not in known:
                raise ValueError(f"conversion plan: {field_name} {value!r} is not one of {', '.join(known)}")

    # ---- derived -------------------------------------------------------------------

    @property
    def primary_backend(self) -> str:
        return self.backends[0]

    def options_for(self, backend: str) -> Dict[str, str]:
        """Runtime/compile options edgekit sets for ``backend`` (e.g. OpenVINO precision hint)."""
        return {key: value for name, key, value in self.backend_options if name == backend}

    def int8_for(self, backend: str) -> Optional[Int8Constraints]:
        for constraints in self.int8:
            if constraints.backend == backend:
                return constraints
        return None

    def trtexec_command(self, onnx: str = "model.onnx", engine: str = "model.engine") -> Optional[str]:
        """The trtexec line that builds this plan's engine on the device (TensorRT plans only)."""
        if not any(BACKENDS.get(name).built_on_device for name in self.backends):
            return None
        return " ".join(["trtexec", f"--onnx={onnx}", f"--saveEngine={engine}", *self.trtexec_flags])

    @property
    def batch_range(self) -> Optional[Tuple[int, int, int]]:
        """``(min, opt, max)`` batch of a dynamic-batch engine (opt = max: batching is for throughput)."""
        if not self.dynamic_batch:
            return None
        high = int(self.max_batch or DEFAULT_MAX_BATCH)
        return 1, high, high

    def with_head(self, bins: int, end2end: bool, task: str = "detect", queries: int = 0) -> ConversionPlan:
        """Adapt the plan to the model's head: no DFL when ``bins == 1``, no NMS when end-to-end;
        a task head (segment, pose, obb) decodes in the graph, its outputs split, NMS on the host;
        a query head (RT-DETR) as :meth:`_query_head_changes` says."""
        changes: Dict[str, Any] = self._query_head_changes() if queries else {}
        notes: List[str] = [*self.notes, *changes.pop("notes", ())]
        if task != "detect":
            for key, value, was in (
                ("output", "split", "concat"),
                ("nms", "host", "graph"),
                ("dfl", "fused", "host"),
            ):
                if getattr(self, key) == was:
                    changes[key] = value
                    notes.append(f"{task} head: {key} {value} (not {was})")
        if bins == 1 and self.dfl != "none":
            changes["dfl"] = "none"
            notes.append(
                "one box per query (no DFL)" if queries else "the head regresses distances directly (no DFL)"
            )
        if end2end and self.nms != "none":
            if self.nms == "graph":
                notes.append("NMS-free head: --nms graph is not needed and was dropped")
            changes.update(nms="none", output="end2end")
        if not changes:
            return self
        changes["notes"] = tuple(notes)
        return dataclasses.replace(self, **changes)

    def _query_head_changes(self) -> Dict[str, Any]:
        """RT-DETR's deformable attention samples with ONNX ``GridSample`` (opset 16), which LiteRT
        does not run: a plan with other backends leaves LiteRT out, one with LiteRT alone is refused."""
        changes: Dict[str, Any] = {"notes": []}
        if "tflite" in self.backends:
            kept = tuple(b for b in self.backends if b != "tflite")
            if not kept:
                raise ConversionError(
                    "RT-DETR's deformable attention needs GridSample, which LiteRT (tflite) does not run: "
                    "use --backend onnxruntime"
                )
            changes["backends"] = kept
            changes["notes"].append(f"tflite left out: LiteRT has no GridSample (RT-DETR); runs on {kept[0]}")
        if self.opset < GRID_SAMPLE_OPSET:
            changes["opset"] = GRID_SAMPLE_OPSET
            changes["notes"].append(f"opset {GRID_SAMPLE_OPSET} (not {self.opset}): GridSample")
        return changes

    # ---- serialisation -------------------------------------------------------------

    def to_dict(self) -> Dict[str, Any]:
        options: Dict[str, Dict[str, str]] = {}
        for backend, key, value in self.backend_options:
            options.setdefault(backend, {})[key] = value
        return {
            "schema": self.schema,
            "target": self.target,
            "title": self.title,
            "alias_used": self.alias_used,
            "arch": self.arch,
            "backends": list(self.backends),
            "precision": self.precision,
            "opset": self.opset,
            "imgsz": list(self.imgsz),
            "dynamic_batch": self.dynamic_batch,
            "dfl": self.dfl,
            "output": self.output,
            "nms": self.nms,
            "calibration": self.calibration,
            "min_calibration_images": self.min_calibration_images,
            "keep_head_float": self.keep_head_float,
            "int8": [c.to_dict() for c in self.int8],
            "jetpack": self.jetpack,
            "l4t": self.l4t,
            "tensorrt": self.tensorrt,
            "cuda": self.cuda,
            "python": self.python,
            "dla_core": self.dla_core,
            "workspace_mib": self.workspace_mib,
            "trtexec_flags": list(self.trtexec_flags),
            "backend_options": options,
            "convert_only": self.convert_only,
            "notes": list(self.notes),
            **({"max_batch": self.max_batch} if self.max_batch is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> ConversionPlan:
        """Inverse of ``to_dict``. Raises ``ValueError`` for another schema or a malformed dict."""
        schema = data.get("schema")
        if schema != PLAN_SCHEMA:
            raise ValueError(f"conversion plan schema {schema!r} is not supported (expected {PLAN_SCHEMA})")
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"conversion plan: unknown field(s) {', '.join(unknown)}")
        try:
            height, width = (int(v) for v in data["imgsz"])
            options = tuple(
                (str(backend), str(key), str(value))
                for backend, pairs in dict(data.get("backend_options") or {}).items()
                for key, value in dict(pairs).items()
            )
            return cls(
                target=str(data["target"]),
                title=str(data["title"]),
                alias_used=data.get("alias_used"),
                arch=str(data["arch"]),
                backends=tuple(str(b) for b in data["backends"]),
                precision=str(data["precision"]),
                opset=int(data["opset"]),
                imgsz=(height, width),
                dynamic_batch=bool(data["dynamic_batch"]),
                dfl=str(data["dfl"]),
                output=str(data["output"]),
                nms=str(data["nms"]),
                calibration=bool(data["calibration"]),
                min_calibration_images=int(data["min_calibration_images"]),
                keep_head_float=bool(data["keep_head_float"]),
                int8=tuple(Int8Constraints.from_dict(c) for c in data.get("int8") or ()),
                jetpack=data.get("jetpack"),
                l4t=data.get("l4t"),
                tensorrt=data.get("tensorrt"),
                cuda=data.get("cuda"),
                python=data.get("python"),
                dla_core=data.get("dla_core"),
                workspace_mib=data.get("workspace_mib"),
                trtexec_flags=tuple(str(f) for f in data.get("trtexec_flags") or ()),
                backend_options=options,
                convert_only=bool(data.get("convert_only", False)),
                notes=tuple(str(n) for n in data.get("notes") or ()),
                schema=PLAN_SCHEMA,
                max_batch=int(data["max_batch"]) if data.get("max_batch") is not None else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed conversion plan: {exc!r}") from exc

    # ---- human summary -------------------------------------------------------------

    def describe(self, imgsz_from: Optional[str] = None) -> str:
        """A multi-line summary printed before conversion (``imgsz_from``: where the input size came from)."""
        alias = f" (from '{self.alias_used}')" if self.alias_used else ""
        rows: List[Tuple[str, str]] = [
            ("target", f"{self.target}{alias}: {self.title} [{self.arch}]"),
            ("backends", ", ".join(self.backends)),
            ("precision", self.precision),
            (
                "input",
                f"{self.imgsz[1]}x{self.imgsz[0]}"
                + (f" ({imgsz_from})" if imgsz_from else "")
                + f", batch {f'dynamic 1-{self.batch_range[2]}' if self.batch_range else '1'}",
            ),
            ("onnx opset", str(self.opset)),
            ("head", f"DFL {self.dfl}, output {self.output}, NMS {self.nms}"),
        ]
        if self.calibration:
            schemes = ", ".join(f"{c.backend}: {c.scheme}" for c in self.int8)
            rows.append(("int8", f"calibrate on >= {self.min_calibration_images} images; {schemes}"))
            if self.keep_head_float:
                rows.append(("", "decode, DFL and sigmoid stay in float"))
        if self.jetpack:
            rows.append(
                (
                    "jetpack",
                    f"{self.jetpack} (L4T {self.l4t}, TensorRT {self.tensorrt}, CUDA {self.cuda}, "
                    f"Python {self.python})",
                )
            )
        elif self.python:
            rows.append(("python", self.python))
        if self.dla_core is not None:
            rows.append(("dla core", str(self.dla_core)))
        if self.workspace_mib is not None:
            rows.append(("workspace", f"{self.workspace_mib} MiB"))
        command = self.trtexec_command()
        if command:
            rows.append(("trtexec", command))
        for backend in self.backends:
            options = self.options_for(backend)
            if options:
                rows.append((backend, ", ".join(f"{k}={v}" for k, v in sorted(options.items()))))
        if self.convert_only:
            rows.append(("runtime", "convert-only: no edgekit runtime on this device"))
        rows.extend(("note", note) for note in self.notes)
        width = max(len(label) for label, _ in rows)
        return "\n".join(f"{label:<{width}}  {value}".rstrip() for label, value in rows)
