"""The bundle manifest (``manifest.json``): typed, frozen, versioned.

It says everything a runtime needs and nothing has to be guessed: input geometry and
preprocessing, the meaning of every output tensor, the decoder and its default thresholds,
the model files per backend, and the provenance and verification figures of the conversion.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, Optional, Tuple

from edgekit import backends
from edgekit.bundle import _fields as F
from edgekit.bundle.decoder import DecoderSpec
from edgekit.bundle.records import EngineBuild, ReparamRecord, Verification, plan_record, upgrade_v1
from edgekit.devices.conversion_plan import ConversionPlan
from edgekit.errors import NoSuchModelError
from edgekit.vocab import ARTIFACT_PRECISIONS, HEADS

#: 2: typed ``target`` (the ConversionPlan), ``build`` (was ``target.build``), ``verification`` and
#: ``reparam``; unknown fields refused everywhere. Version 1 is still read (``records.upgrade_v1``).
SCHEMA_VERSION = 2
LAYOUTS = ("NCHW", "NHWC")
#: an output's layout: per anchor (B, N, C) or channels first (B, C, N); image-wide maps NCHW
OUTPUT_LAYOUTS = ("BNC", "BCN", "NCHW")
DTYPES = ("float32", "float16", "uint8", "int8", "int32", "int64")
RESIZES = ("letterbox", "stretch")
COLORS = ("RGB", "BGR")
# what an output tensor holds; the decoder reads roles, never the family name
OUTPUT_ROLES = (
    "boxes",  # (B, N, 4) xyxy in input pixels
    "scores",  # (B, N, nc) class probabilities
    "boxes_scores",  # (B, N, 4 + nc) both in one tensor
    "box_dist",  # (B, N, 4*bins) raw DFL logits (host DFL)
    "score_logits",  # (B, N, nc) before sigmoid
    "detections",  # (B, K, 6 + E) x1, y1, x2, y2, score, class (NMS-free top-k or in-graph NMS),
    # then a task's E values per row (mask coefficients, keypoints; OBB: cx, cy, w, h, ..., angle)
    "num_dets",  # (B, 1) number of valid rows in `detections` / det_* outputs
    "det_boxes",  # (B, K, 4)  EfficientNMS_TRT-style outputs
    "det_scores",  # (B, K)
    "det_classes",  # (B, K)
    "nms_indices",  # (M, 3) batch, class, box index (ONNX NonMaxSuppression)
    "best_scores",  # (B, N) each anchor's highest class probability (computed in the graph)
    "best_classes",  # (B, N) the class of that score
    "mask_coefficients",  # (B, N, nm) segment: each anchor's mask coefficients
    "prototypes",  # (B, nm, Hp, Wp) segment: the image's mask prototypes
    "keypoints",  # (B, N, 2K) pose: x, y of each keypoint in input pixels
    "keypoint_scores",  # (B, N, K) pose: each keypoint's visibility probability
    "rboxes",  # (B, N, 5) obb: centre x, y, width, height in input pixels, angle in radians
    "rotated_detections",  # (B, K, 7) obb NMS-free top-k: cx, cy, w, h, score, class, angle
)


@dataclass(frozen=True)
class Quantization:
    """Affine quantization of an integer tensor: real = (q - zero_point) * scale."""

    scale: float
    zero_point: int

    @classmethod
    def from_dict(cls, d: Dict[str, Any], path: str) -> Quantization:
        F.known_fields(d, path, cls)
        return cls(F.number(d, "scale", path, positive=True), F.integer(d, "zero_point", path, minimum=-128))

    @classmethod
    def optional(cls, d: Dict[str, Any], path: str) -> Optional[Quantization]:
        """The ``quantization`` section of ``d``, or None when absent (a float tensor)."""
        if d.get("quantization") is None:
            return None
        return cls.from_dict(F.section(d, "quantization", path), path + "quantization.")


@dataclass(frozen=True)
class SourceInfo:
    name: str  # checkpoint file name (never a host path)
    sha256: str

    @classmethod
    def from_dict(cls, d: Dict[str, Any], path: str) -> SourceInfo:
        F.known_fields(d, path, cls)
        digest = F.string(d, "sha256", path)
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise F.FieldError(f"'{path}sha256' must be 64 lowercase hex digits")
        return cls(F.string(d, "name", path), digest)


@dataclass(frozen=True)
class ModelSection:
    family: str
    variant: str
    class_names: Tuple[str, ...]
    task: str = "detect"
    head: Optional[str] = None  # dual-head models (YOLOv10, YOLO26): the exported branch (HEADS)

    @classmethod
    def from_dict(cls, d: Dict[str, Any], path: str) -> ModelSection:
        F.known_fields(d, path, cls)
        names = F.string_list(d, "class_names", path)
        if not names:
            raise F.FieldError(f"'{path}class_names' must not be empty")
        return cls(
            F.string(d, "family", path),
            F.string(d, "variant", path),
            tuple(names),
            F.string(d, "task", path, choices=("detect",)),
            F.string(d, "head", path, choices=HEADS) if d.get("head") is not None else None,
        )


@dataclass(frozen=True)
class InputSpec:
    name: str
    height: int
    width: int
    layout: str = "NCHW"
    dtype: str = "float32"
    batch: Optional[int] = 1  # None: dynamic batch
    quantization: Optional[Quantization] = None  # int8/uint8 input

    @classmethod
    def from_dict(cls, d: Dict[str, Any], path: str) -> InputSpec:
        F.known_fields(d, path, cls)
        batch = d.get("batch", 1)
        if batch is not None:
            batch = F.integer(d, "batch", path, minimum=1)
        return cls(
            F.string(d, "name", path),
            F.integer(d, "height", path, minimum=1),
            F.integer(d, "width", path, minimum=1),
            F.string(d, "layout", path, choices=LAYOUTS),
            F.string(d, "dtype", path, choices=DTYPES),
            batch,
            Quantization.optional(d, path),
        )


@dataclass(frozen=True)
class Preprocess:
    resize: str = "letterbox"
    pad_value: int = 114
    color: str = "RGB"
    scale: float = 1.0 / 255.0

    @classmethod
    def from_dict(cls, d: Dict[str, Any], path: str) -> Preprocess:
        F.known_fields(d, path, cls)
        pad = F.integer(d, "pad_value", path, minimum=0)
        if pad > 255:
            raise F.FieldError(f"'{path}pad_value' must be 0..255, got {pad}")
        return cls(
            F.string(d, "resize", path, choices=RESIZES),
            pad,
            F.string(d, "color", path, choices=COLORS),
            F.number(d, "scale", path, positive=True),
        )


@dataclass(frozen=True)
class OutputSpec:
    name: str
    role: str
    shape: Tuple[Optional[int], ...]  # None marks a dynamic dimension
    dtype: str = "float32"
    quantization: Optional[Quantization] = None
    # boxes/scores/box_dist/score_logits: "BNC" = (B, N, C) or "BCN" = (B, C, N) channels-first
    layout: str = "BNC"

    @classmethod
    def from_dict(cls, d: Dict[str, Any], path: str) -> OutputSpec:
        F.known_fields(d, path, cls)
        return cls(
            F.string(d, "name", path),
            F.string(d, "role", path, choices=OUTPUT_ROLES),
            tuple(F.int_list(d, "shape", path, allow_none=True)),
            F.string(d, "dtype", path, choices=DTYPES),
            Quantization.optional(d, path),
            F.string(d, "layout", path, choices=OUTPUT_LAYOUTS) if "layout" in d else "BNC",
        )


@dataclass(frozen=True)
class ArtifactFile:
    """A further file an artifact needs beside its main one (OpenVINO's weights ``.bin``)."""

    path: str  # relative to the bundle directory, POSIX separators
    sha256: str
    size: int

    @classmethod
    def from_dict(cls, d: Dict[str, Any], path: str) -> ArtifactFile:
        F.known_fields(d, path, cls)
        rel = F.string(d, "path", path)
        check_relative(rel, path + "path")
        return cls(rel, F.string(d, "sha256", path), F.integer(d, "size", path, minimum=0))


@dataclass(frozen=True)
class TensorIO:
    """One model's own dtype (and quantization) of an input/output tensor named in the manifest,
    where that model differs from the manifest's float interface (a .tflite with int8 I/O)."""

    name: str
    dtype: str
    quantization: Optional[Quantization] = None

    @classmethod
    def from_dict(cls, d: Dict[str, Any], path: str) -> TensorIO:
        F.known_fields(d, path, cls)
        return cls(
            F.string(d, "name", path),
            F.string(d, "dtype", path, choices=DTYPES),
            Quantization.optional(d, path),
        )


@dataclass(frozen=True)
class Artifact:
    backend: str
    path: str  # relative to the bundle directory, POSIX separators (the main file, e.g. model.xml)
    precision: str
    sha256: str
    size: int
    files: Tuple[ArtifactFile, ...] = ()  # further files of the same model; optional (absent: none)
    io: Tuple[TensorIO, ...] = ()  # this model's integer inputs/outputs; optional (absent: float)
    # outputs only this model has, after the manifest's (the per-anchor best score); optional
    extra_outputs: Tuple[OutputSpec, ...] = ()

    @classmethod
    def from_dict(cls, d: Dict[str, Any], path: str) -> Artifact:
        F.known_fields(d, path, cls)
        rel = F.string(d, "path", path)
        check_relative(rel, path + "path")
        return cls(
            F.string(d, "backend", path, choices=backends.NAMES),
            rel,
            F.string(d, "precision", path, choices=ARTIFACT_PRECISIONS),
            F.string(d, "sha256", path),
            F.integer(d, "size", path, minimum=0),
            F.optional_items(d, "files", path, ArtifactFile.from_dict),
            F.optional_items(d, "io", path, TensorIO.from_dict),
            F.optional_items(d, "extra_outputs", path, OutputSpec.from_dict),
        )


def check_relative(rel: str, where: str) -> None:
    """Refuse a path that could leave the bundle directory."""
    norm = posixpath.normpath(rel)
    if rel.startswith(("/", "\\")) or "\\" in rel or ":" in rel or norm == ".." or norm.startswith("../"):
        raise F.FieldError(f"'{where}' must stay inside the bundle, got {rel!r}")


@dataclass(frozen=True)
class Manifest:
    """Everything a runtime needs; written as ``manifest.json`` at the bundle root."""

    source: SourceInfo
    model: ModelSection
    input: InputSpec
    preprocess: Preprocess
    outputs: Tuple[OutputSpec, ...]
    decoder: DecoderSpec
    artifacts: Tuple[Artifact, ...]
    edgekit_version: str
    created: str  # ISO 8601, UTC
    target: Optional[ConversionPlan] = None  # the resolved conversion plan
    tools: Dict[str, str] = field(default_factory=dict)  # versions used to convert
    verification: Verification = field(default_factory=Verification)  # figures recorded at conversion
    reparam: Optional[ReparamRecord] = None  # the reparameterization report
    build: Optional[EngineBuild] = None  # how the device builds its engine (TensorRT bundles)
    schema_version: int = SCHEMA_VERSION

    @property
    def class_names(self) -> Tuple[str, ...]:
        return self.model.class_names

    def artifact(self, backend: Optional[str] = None) -> Artifact:
        """The artifact of ``backend`` (the first one when None)."""
        for art in self.artifacts:
            if backend is None or art.backend == backend:
                return art
        have = ", ".join(a.backend for a in self.artifacts)
        raise NoSuchModelError(f"the bundle has no {backend} model (it has: {have})")

    def for_artifact(self, artifact: Artifact) -> Manifest:
        """This manifest as ``artifact`` sees it: its own outputs appended (``extra_outputs``), then
        its own integer inputs/outputs (``io``) applied."""
        if not artifact.io and not artifact.extra_outputs:
            return self
        outputs = self.outputs + artifact.extra_outputs
        names = [o.name for o in outputs]
        clash = sorted({n for n in names if names.count(n) > 1})
        if clash:
            raise F.FieldError(f"artifact {artifact.path!r}: extra_outputs repeat the outputs {clash}")
        own = {t.name: t for t in artifact.io}
        known = {self.input.name, *names}
        unknown = sorted(set(own) - known)
        if unknown:
            raise F.FieldError(f"artifact {artifact.path!r}: io names {unknown} are not inputs/outputs")

        def apply(spec: Any) -> Any:
            t = own.get(spec.name)
            return spec if t is None else replace(spec, dtype=t.dtype, quantization=t.quantization)

        return replace(self, input=apply(self.input), outputs=tuple(apply(o) for o in outputs))

    def to_dict(self) -> Dict[str, Any]:
        """The JSON object written to disk (tuples as lists; empty records left out)."""
        d = asdict(replace(self, target=None, verification=Verification(), reparam=None, build=None))
        d = {"schema_version": d.pop("schema_version"), **d}
        del d["reparam"], d["build"]
        d["target"] = self.target.to_dict() if self.target is not None else {}
        d["verification"] = self.verification.to_dict()
        if self.reparam is not None:
            d["reparam"] = self.reparam.to_dict()
        if self.build is not None:
            d["build"] = self.build.to_dict()
        return json.loads(json.dumps(d))

    @classmethod
    def from_dict(cls, d: Any) -> Manifest:
        """Validate and build; raises ``FieldError`` naming the offending field."""
        if not isinstance(d, dict):
            raise F.FieldError("the manifest must be a JSON object")
        version = F.integer(d, "schema_version", "", minimum=1)
        if version > SCHEMA_VERSION:
            raise F.FieldError(
                f"schema_version {version} is newer than this edgekit reads ({SCHEMA_VERSION})"
            )
        if version == 1:
            d = upgrade_v1(d, SCHEMA_VERSION)
        F.known_fields(d, "", cls)
        outputs = tuple(
            OutputSpec.from_dict(o, f"outputs[{i}].") for i, o in enumerate(F.obj_list(d, "outputs", ""))
        )
        artifacts = tuple(
            Artifact.from_dict(a, f"artifacts[{i}].") for i, a in enumerate(F.obj_list(d, "artifacts", ""))
        )
        manifest = cls(
            source=SourceInfo.from_dict(F.section(d, "source", ""), "source."),
            model=ModelSection.from_dict(F.section(d, "model", ""), "model."),
            input=InputSpec.from_dict(F.section(d, "input", ""), "input."),
            preprocess=Preprocess.from_dict(F.section(d, "preprocess", ""), "preprocess."),
            outputs=outputs,
            decoder=DecoderSpec.from_dict(F.section(d, "decoder", ""), "decoder."),
            artifacts=artifacts,
            edgekit_version=F.string(d, "edgekit_version", ""),
            created=F.string(d, "created", ""),
            target=plan_record(F.mapping(d, "target", "")),
            tools={str(k): str(v) for k, v in F.mapping(d, "tools", "").items()},
            verification=Verification.from_dict(F.mapping(d, "verification", ""), "verification."),
            reparam=ReparamRecord.from_dict(F.section(d, "reparam", ""), "reparam.")
            if d.get("reparam")
            else None,
            build=EngineBuild.from_dict(F.section(d, "build", ""), "build.") if d.get("build") else None,
        )
        for art in artifacts:
            manifest.for_artifact(art)  # io entries name known tensors
        return manifest
