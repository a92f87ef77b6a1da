"""Convert as stages: export -> simplify -> in-graph NMS -> device build check -> per-backend artifacts
-> host interface -> verify -> INT8.

Every stage reads one immutable ``Build`` (what is being converted, for which plan, into which
writer) and returns what it made; the manifest stages return a new ``Manifest`` with
``dataclasses.replace``. ``write_onnx_bundle`` runs them in order.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from edgekit import __version__, progress
from edgekit._optional import require
from edgekit.backends import BACKENDS, REFERENCE
from edgekit.bundle import BundleWriter, Manifest
from edgekit.bundle.manifest import Artifact, InputSpec, ModelSection, Preprocess, SourceInfo
from edgekit.bundle.records import EngineBuild, ReparamRecord, Verification
from edgekit.contract.model import LoadedModel
from edgekit.converters import graph
from edgekit.converters.artifacts import tool_versions, verification_samples, with_host_io, write_artifact
from edgekit.converters.onnx_export import (
    append_nms,
    check_export,
    export_onnx,
    output_shapes,
    set_metadata,
    simplify_onnx,
)
from edgekit.converters.options import ConvertOptions
from edgekit.converters.verify_bundle import verify_bundle
from edgekit.devices import ConversionPlan
from edgekit.devices.cpu_default import is_default_bf16
from edgekit.devices.plan import without_bf16
from edgekit.errors import VerificationError

Log = Callable[[str], None]
ONNX_NAME = "model.onnx"
Roles = List[Tuple[str, str]]


@dataclass(frozen=True)
class Build:
    """What one conversion works on; shared, never changed, by every stage."""

    writer: BundleWriter
    module: Any  # the exported torch module (the deploy model, channels-first where the plan says)
    loaded: LoadedModel
    plan: ConversionPlan
    opts: ConvertOptions
    backends: Tuple[str, ...]
    say: Log
    sample: Any  # a zero input of the plan's size, for tracing

    @property
    def onnx_path(self) -> Any:
        return self.writer.dir / ONNX_NAME

    @property
    def int8(self) -> bool:
        return self.plan.precision == "int8"


def export_stage(b: Build) -> Tuple[Roles, Dict[str, Any]]:
    """ONNX export, its check, onnxslim (verified on a real image), NMS appended for graph NMS."""
    from edgekit.reparam import sample_inputs

    plan, h, w = b.plan, *b.plan.imgsz
    roles = graph.output_roles(plan, b.loaded.info.head)
    started = time.perf_counter()
    with progress.step(f"exporting ONNX (opset {plan.opset})"):
        export_onnx(b.module, b.onnx_path, b.sample, [n for n, _ in roles], plan.opset, plan.dynamic_batch)
        check_export(b.onnx_path)
        check = sample_inputs((h, w), b.loaded.info.preprocess, batch=1).numpy()
        simplified = (
            simplify_onnx(b.onnx_path, check) if b.opts.simplify else {"kept": False, "reason": "disabled"}
        )
    if plan.nms == "graph":
        o = b.opts
        nms = append_nms(b.onnx_path, "boxes", "scores", o.max_det, o.iou, o.conf, graph.graph_layout(plan))
        roles.append((nms, "nms_indices"))
    b.say(
        f"exported ONNX opset {plan.opset} in {time.perf_counter() - started:.1f}s"
        f" ({simplified.get('nodes_after', '?')} nodes)"
    )
    return roles, simplified


def describe_stage(b: Build, roles: Roles) -> Tuple[Preprocess, Any]:
    """The manifest's preprocessing and decoder, also written into the ONNX's metadata."""
    info, (h, w) = b.loaded.info, b.plan.imgsz
    pre = info.preprocess
    preprocess = Preprocess(pre.resize, pre.pad_value, pre.color, pre.scale)
    decoder = graph.decoder_spec(b.plan, info, b.opts.conf, b.opts.iou, b.opts.max_det)
    metadata = {
        "producer": f"edgekit {__version__}",
        "family": info.family,
        "variant": info.variant,
        "names": list(info.names),
        "imgsz": [h, w],
        "preprocess": preprocess.__dict__,
        "decoder": decoder.type,
        "outputs": {name: role for name, role in roles},
    }
    set_metadata(b.onnx_path, metadata)
    return preprocess, decoder


def device_build_stage(b: Build) -> Optional[EngineBuild]:
    """For a backend whose engine is built on the device (``Backend.device_build``): the ONNX
    checked against the device's parser, and how the device builds the engine."""
    for name in b.backends:
        if BACKENDS.get(name).device_build:
            return BACKENDS.get(name).hook("device_build")(b)
    return None


def artifacts_stage(b: Build) -> Tuple[Artifact, ...]:
    """Each backend's model file; for INT8 only the FP32 ONNX, the quantizers' verified source."""
    if b.int8:
        return (write_artifact(b.writer, b.onnx_path, REFERENCE, "fp32", b.say),)
    return tuple(
        write_artifact(b.writer, b.onnx_path, name, b.plan.precision, b.say, b.module, b.sample)
        for name in b.backends
    )


@dataclass(frozen=True)
class Exported:
    """What the export stages made: the outputs' roles, the simplifier's report, the device's engine
    build (TensorRT) and the preprocessing and decoder written into the ONNX."""

    roles: Roles
    simplified: Dict[str, Any]
    build: Optional[EngineBuild]
    preprocess: Preprocess
    decoder: Any


def exported_head(info: Any) -> Optional[str]:
    """Which branch of a dual-head model the bundle holds (``HEADS``); None for one-head models."""
    if not info.structures.one_to_many_head:
        return None
    return "one2one" if info.head.end2end else "one2many"


def first_manifest(b: Build, e: Exported, artifacts: Sequence[Artifact], reparam: Dict[str, Any]) -> Manifest:
    """The manifest of the float bundle, before the host interface and verification."""
    info, plan, (h, w) = b.loaded.info, b.plan, b.plan.imgsz
    outputs = graph.output_specs(
        e.roles, output_shapes(b.onnx_path), graph.graph_layout(plan), plan.dynamic_batch
    )
    skipped = [name for name in plan.backends if name not in b.backends]
    return Manifest(
        source=SourceInfo(info.source or "checkpoint", info.source_sha256 or "0" * 64),
        model=ModelSection(info.family, info.variant, tuple(info.names), head=exported_head(info)),
        input=InputSpec("images", h, w, "NCHW", "float32", None if plan.dynamic_batch else 1),
        preprocess=e.preprocess,
        outputs=outputs,
        decoder=e.decoder,
        artifacts=tuple(artifacts),
        edgekit_version=__version__,
        created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        target=plan,
        tools=tool_versions(),
        verification=Verification(onnx_simplify=e.simplified, backends_not_built=tuple(skipped)),
        reparam=ReparamRecord.from_dict(reparam, "reparam.") if reparam else None,
        build=e.build,
    )


def verify_stage(b: Build, manifest: Manifest) -> Manifest:
    """Every written model against the PyTorch module, through the one verification module."""
    if not b.opts.verify:
        return manifest
    with progress.step("verifying against PyTorch"):
        samples = verification_samples(manifest, b.opts)
        try:
            figures = verify_bundle(b.writer.dir, manifest, b.loaded, b.module, samples, b.say)
        except VerificationError as exc:
            if not is_default_bf16(manifest.target):
                raise
            b.say(f"bf16 failed its check ({exc}): OpenVINO computes in f32 instead")
            manifest = without_bf16_artifacts(manifest, str(exc))
            figures = verify_bundle(b.writer.dir, manifest, b.loaded, b.module, samples, b.say)
    return dataclasses.replace(manifest, verification=manifest.verification.with_figures(**figures))


def without_bf16_artifacts(manifest: Manifest, why: str) -> Manifest:
    """``manifest`` with its bf16 artifacts run in FP32 (the same IR, the f32 hint) and its plan FP32."""
    arts = tuple(
        dataclasses.replace(a, precision="fp32") if a.precision == "bf16" else a for a in manifest.artifacts
    )
    return dataclasses.replace(manifest, artifacts=arts, target=without_bf16(manifest.target, why))


def int8_options(b: Build) -> Any:
    """The user's INT8 options, and whether the model is a query head (its float scope differs)."""
    return dataclasses.replace(b.opts.int8_options(), query_head=bool(b.loaded.info.head.queries))


def int8_stage(b: Build, manifest: Manifest) -> Manifest:
    """Calibrate and quantize per backend from the verified FP32 models (INT8 plans only)."""
    if not b.int8:
        return manifest
    from edgekit.converters.int8 import build_int8

    for name in b.backends:  # a quantizer that starts from another float model than the FP32 ONNX
        if BACKENDS.get(name).int8_source:
            BACKENDS.get(name).hook("int8_source")(b)
    with progress.step("INT8: calibrating and quantizing"):
        quantized, report = build_int8(b.writer, manifest, b.plan, list(b.backends), int8_options(b), b.say)
    build = manifest.build
    if build is not None:  # the device builds from the Q/DQ model
        from edgekit.converters.tensorrt import build_section

        built = next(a for a in quantized if BACKENDS.get(a.backend).built_on_device)
        build = build_section(b.plan, built.path)
    verification = manifest.verification.with_figures(int8=report)
    return dataclasses.replace(manifest, artifacts=quantized, build=build, verification=verification)


def write_onnx_bundle(
    writer: BundleWriter,
    deploy: Any,
    loaded: LoadedModel,
    plan: ConversionPlan,
    opts: ConvertOptions,
    backends: Sequence[str],
    reparam: Dict[str, Any],
    say: Log,
) -> Manifest:
    """Every stage in order; returns the manifest to commit with the writer."""
    torch = require("torch")
    h, w = plan.imgsz
    module = graph.ChannelsFirst(deploy) if graph.graph_layout(plan) == "BCN" else deploy
    module.eval()
    b = Build(writer, module, loaded, plan, opts, tuple(backends), say, torch.zeros(1, 3, h, w))
    roles, simplified = export_stage(b)
    preprocess, decoder = describe_stage(b, roles)  # the ONNX is final after its metadata ...
    build = device_build_stage(b)  # ... and the TensorRT FP16 copy, before hashing
    exported = Exported(roles, simplified, build, preprocess, decoder)
    manifest = first_manifest(b, exported, artifacts_stage(b), reparam)
    if opts.host_io and not b.int8:
        manifest = with_host_io(writer, manifest, say)
    return int8_stage(b, verify_stage(b, manifest))
