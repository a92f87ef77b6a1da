"""``edgekit.convert``: checkpoint -> plan -> reparameterize -> ONNX (+ backends) -> verified bundle."""

from __future__ import annotations

import dataclasses
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from edgekit import __version__, progress
from edgekit._optional import available, require, version_of
from edgekit.backends import BACKENDS, REFERENCE
from edgekit.bundle import BundleWriter, Manifest
from edgekit.bundle.manifest import Artifact, InputSpec, ModelSection, Preprocess, SourceInfo
from edgekit.contract.model import LoadedModel
from edgekit.converters import graph
from edgekit.converters.onnx_export import (
    append_nms,
    check_export,
    export_onnx,
    output_shapes,
    set_metadata,
    simplify_onnx,
)
from edgekit.converters.options import (
    ConvertOptions,
    check_calibration,
    choose_imgsz,
    default_bundle_path,
    make_plan,
    parse_names,
    with_names,
)
from edgekit.converters.verify_bundle import sample_images, verify_bundle
from edgekit.devices import ConversionPlan
from edgekit.errors import ConversionError
from edgekit.models.loader import load_checkpoint

Log = Callable[[str], None]
ONNX_NAME = "model.onnx"


def convert(
    checkpoint: Union[str, Path], target: str = "cpu", log: Optional[Log] = None, **options: Any
) -> Path:
    """Convert ``checkpoint`` for ``target``; returns the bundle path. Same engine as ``edgekit convert``."""
    opts = ConvertOptions(target=target, **options)
    checkpoint = Path(checkpoint)
    plan = make_plan(opts)  # flags and calibration images are checked before the (slower) checkpoint read
    if opts.int8_io and (plan.precision != "int8" or "tflite" not in plan.backends):
        raise ConversionError(
            f"--int8-io applies to TFLite INT8 models; this plan is {plan.precision} "
            f"for {', '.join(plan.backends)} (add --int8 --backend tflite, or a Raspberry Pi target)"
        )
    check_calibration(opts, plan)
    if opts.names is not None:
        parse_names(opts.names)  # a bad --names fails before the checkpoint read
    with progress.session(opts.progress, opts.verbose):
        with progress.step(f"reading {checkpoint.name}"):
            loaded = load_checkpoint(checkpoint, arch=opts.arch)
        plan, imgsz_from = choose_imgsz(opts, loaded.info, plan)
        dest = Path(opts.output) if opts.output else default_bundle_path(checkpoint, plan)
        return build_bundle(loaded, dest, opts, plan, log, imgsz_from)


def convert_loaded(
    loaded: LoadedModel,
    dest: Path,
    opts: ConvertOptions,
    plan: Optional[ConversionPlan] = None,
    log: Optional[Log] = None,
) -> Path:
    """Convert an already loaded model into the bundle ``dest`` (written atomically).

    Without ``plan``, it is resolved from ``opts`` at the checkpoint's training size (as ``convert``).
    """
    imgsz_from = None
    if plan is None:
        plan, imgsz_from = choose_imgsz(opts, loaded.info, make_plan(opts))
        check_calibration(opts, plan)
    return build_bundle(loaded, dest, opts, plan, log, imgsz_from)


def build_bundle(
    loaded: LoadedModel,
    dest: Path,
    opts: ConvertOptions,
    plan: ConversionPlan,
    log: Optional[Log] = None,
    imgsz_from: Optional[str] = None,
) -> Path:
    """Reparameterize, export, verify and write the bundle ``dest`` for ``plan``."""
    say: Log = log or (lambda _msg: None)
    info, names_from = with_names(opts, loaded.info)
    if info.head.end2end and info.head.max_det != opts.max_det:  # the graph's top-k is --max-det
        info = dataclasses.replace(info, head=dataclasses.replace(info.head, max_det=opts.max_det))
    loaded = dataclasses.replace(loaded, info=info)
    plan = plan.with_head(info.head.bins, info.head.end2end)
    backends = list(plan.backends) or [REFERENCE]
    if not any(plan.precision in BACKENDS.get(b).precisions for b in backends):
        raise ConversionError(
            f"precision {plan.precision} is not implemented yet for {', '.join(backends)}: "
            "use --precision fp32"
        )
    say(plan.describe(imgsz_from))
    say(f"model: {info.family} {info.variant}, {info.nc} classes, from {info.source or 'memory'}")
    if names_from:
        say(f"{names_from}: {', '.join(info.names[:8])}{', ...' if info.nc > 8 else ''}")
    with progress.session(opts.progress, opts.verbose):
        with progress.step("reparameterizing"):
            deploy, report = reparameterize_for(loaded, plan, measure=opts.measure)
        say(report.format_table())
        with BundleWriter(dest) as writer:
            manifest = write_onnx_bundle(writer, deploy, loaded, plan, opts, backends, report.to_dict(), say)
            writer.commit(manifest)
        say(f"wrote {dest}")
        with progress.step("building the TensorRT engine"):
            build_engine_here(dest, manifest, say)
    return dest


def build_engine_here(dest: Path, manifest: Manifest, say: Log) -> None:
    """On a Jetson (TensorRT importable), build the bundle's engine right away, as ``edgekit build``."""
    trt = [a for a in manifest.artifacts if a.backend == "tensorrt"]
    if not trt or not available("tensorrt"):
        return
    from edgekit.runtimes.trt_engine import ensure_engine

    ensure_engine(dest, manifest, trt[0].path, trt[0].sha256, say=say)


def reparameterize_for(loaded: LoadedModel, plan: ConversionPlan, measure: bool = True):
    """Run the family's pipeline with the plan's head form; returns (deploy model, report)."""
    from edgekit.reparam import PIPELINES, ReparamOptions, reparameterize, sample_inputs, standard_pipeline

    info = loaded.info
    options = ReparamOptions(output=graph.reparam_output_form(plan), dfl=plan.dfl, imgsz=tuple(plan.imgsz))
    factory = PIPELINES.get(info.family) if info.family in PIPELINES else standard_pipeline
    pipeline = factory(info, options)
    samples = sample_inputs(tuple(plan.imgsz), info.preprocess)
    return reparameterize(loaded.model, pipeline, samples, measure=measure)


def write_onnx_bundle(
    writer: BundleWriter,
    deploy: Any,
    loaded: LoadedModel,
    plan: ConversionPlan,
    opts: ConvertOptions,
    backends: List[str],
    reparam: List[Dict[str, Any]],
    say: Log,
) -> Manifest:
    torch = require("torch")
    info = loaded.info
    h, w = plan.imgsz
    roles = graph.output_roles(plan)
    layout = graph.graph_layout(plan)
    module = graph.ChannelsFirst(deploy) if layout == "BCN" else deploy
    module.eval()
    onnx_path = writer.dir / ONNX_NAME
    sample = torch.zeros(1, 3, h, w)
    started = time.perf_counter()
    with progress.step(f"exporting ONNX (opset {plan.opset})"):
        export_onnx(module, onnx_path, sample, [n for n, _ in roles], plan.opset, plan.dynamic_batch)
        check_export(onnx_path)
        from edgekit.reparam import sample_inputs

        check = sample_inputs((h, w), info.preprocess, batch=1).numpy()
        simplified = (
            simplify_onnx(onnx_path, check) if opts.simplify else {"kept": False, "reason": "disabled"}
        )
    if plan.nms == "graph":
        roles.append(
            (
                append_nms(onnx_path, "boxes", "scores", opts.max_det, opts.iou, opts.conf, layout),
                "nms_indices",
            )
        )
    say(
        f"exported ONNX opset {plan.opset} in {time.perf_counter() - started:.1f}s"
        f" ({simplified.get('nodes_after', '?')} nodes)"
    )
    outputs = graph.output_specs(roles, output_shapes(onnx_path), layout, plan.dynamic_batch)
    pre = info.preprocess
    manifest_preprocess = Preprocess(pre.resize, pre.pad_value, pre.color, pre.scale)
    decoder = graph.decoder_spec(plan, info, opts.conf, opts.iou, opts.max_det)
    set_metadata(
        onnx_path,
        {
            "producer": f"edgekit {__version__}",
            "family": info.family,
            "variant": info.variant,
            "names": list(info.names),
            "imgsz": [h, w],
            "preprocess": manifest_preprocess.__dict__,
            "decoder": decoder.type,
            "outputs": {name: role for name, role in roles},
        },
    )
    target = plan.to_dict()
    if "tensorrt" in backends:
        import onnx

        from edgekit.converters.tensorrt import (
            build_section,
            check_onnx_for_tensorrt,
            needs_fp16_onnx,
            write_fp16_onnx,
        )

        checked = check_onnx_for_tensorrt(onnx.load(str(onnx_path)), target["tensorrt"], onnx_path.name)
        fp16_onnx = (
            write_fp16_onnx(onnx_path) if needs_fp16_onnx(plan) else None
        )  # TensorRT 11 builds FP16 from it
        target["build"] = build_section(plan, onnx_path.name, fp16_onnx)
        say(
            f"ONNX parses in TensorRT {target['tensorrt']}: {checked['ops_checked']} nodes, "
            f"opset {checked['opset']}; build on the device: {target['build']['trtexec']}"
        )
    int8 = plan.precision == "int8"
    if int8:  # the verified FP32 ONNX is the quantizers' source
        artifacts: Tuple[Artifact, ...] = (write_artifact(writer, onnx_path, "onnxruntime", "fp32", say),)
    else:
        artifacts = tuple(
            write_artifact(writer, onnx_path, b, plan.precision, say, module, sample) for b in backends
        )
    skipped = [b for b in plan.backends if b not in backends]
    manifest = Manifest(
        source=SourceInfo(info.source or "checkpoint", info.source_sha256 or "0" * 64),
        model=ModelSection(info.family, info.variant, tuple(info.names)),
        input=InputSpec("images", h, w, "NCHW", "float32", None if plan.dynamic_batch else 1),
        preprocess=manifest_preprocess,
        outputs=outputs,
        decoder=decoder,
        artifacts=artifacts,
        edgekit_version=__version__,
        created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        target=target,
        tools=tool_versions(),
        verification={"onnx_simplify": simplified, "backends_not_built": skipped},
        reparam=reparam,
    )
    if opts.host_io and not int8:
        manifest = with_host_io(writer, manifest, say)
    if opts.verify:
        with progress.step("verifying against PyTorch"):
            samples = verification_samples(manifest, opts)
            figures = verify_bundle(writer.dir, manifest, loaded, module, samples, say)
        manifest = Manifest(**{**manifest.__dict__, "verification": {**manifest.verification, **figures}})
    if int8:
        from edgekit.converters.int8 import TFLITE_FP32, build_int8

        if "tflite" in backends:  # the TFLite quantizer starts from a FP32 .tflite of the same module
            from edgekit.converters.tflite import convert_float

            with progress.step("lowering to a FP32 .tflite for the quantizer"):
                convert_float(module, sample, writer.dir / TFLITE_FP32)
        with progress.step("INT8: calibrating and quantizing"):
            quantized, report = build_int8(writer, manifest, plan, backends, opts.int8_options(), say)
        if "build" in target:  # the device builds from the Q/DQ model
            from edgekit.converters.tensorrt import build_section

            trt = next(a for a in quantized if a.backend == "tensorrt")
            target = {**target, "build": build_section(plan, trt.path)}
        manifest = Manifest(
            **{
                **manifest.__dict__,
                "artifacts": quantized,
                "target": target,
                "verification": {**manifest.verification, "int8": report},
            }
        )
    return manifest


def verification_samples(manifest: Manifest, opts: ConvertOptions) -> Any:
    """The user's images (``--calib``, else ``--val``) when given, else generated ones."""
    if opts.calib is not None:
        return sample_images(manifest, Path(opts.calib))
    if opts.val is not None:
        return sample_images(manifest, Path(opts.val), split=opts.val_split)
    return sample_images(manifest)


def artifact_precision(backend: str, plan_precision: str) -> str:
    """What ``backend``'s artifact really holds for the plan (fp16 plan, onnxruntime model: FP32 ONNX)."""
    return plan_precision if plan_precision in BACKENDS.get(backend).precisions else "fp32"


def write_artifact(
    writer: BundleWriter,
    onnx_path: Path,
    backend: str,
    plan_precision: str,
    say: Log,
    module: Any = None,
    sample: Any = None,
) -> Artifact:
    """Write (or reuse) ``backend``'s model file(s) beside the ONNX and describe them for the manifest.

    TFLite is lowered from the exported torch ``module`` (input ``sample``), not from the ONNX.
    """
    precision = artifact_precision(backend, plan_precision)
    if backend == "tflite":
        from edgekit.converters.tflite import write_tflite

        started = time.perf_counter()
        with progress.step(f"lowering to TFLite {precision} (LiteRT)"):
            name = write_tflite(module, sample, writer.dir, precision)
        size = (writer.dir / name).stat().st_size
        say(f"wrote TFLite {precision} in {time.perf_counter() - started:.1f}s ({size / 1e6:.2f} MB)")
        return writer.artifact(name, backend, precision)
    if backend == "openvino":
        from edgekit.converters.openvino import write_ir

        started = time.perf_counter()
        with progress.step(f"writing the OpenVINO {precision} IR"):
            xml, weights = write_ir(onnx_path, writer.dir, precision)
        size = (writer.dir / weights).stat().st_size
        say(
            f"wrote OpenVINO {precision} IR in {time.perf_counter() - started:.1f}s "
            f"({size / 1e6:.2f} MB weights)"
        )
        return writer.artifact(xml, backend, precision, extra=[weights])
    from edgekit.converters.tensorrt import fp16_onnx_name

    fp16 = fp16_onnx_name(onnx_path.name)  # TensorRT 11's FP16 source, when the plan wrote one
    extra = [fp16] if backend == "tensorrt" and (writer.dir / fp16).is_file() else []
    return writer.artifact(
        onnx_path.name, backend, precision, extra=extra
    )  # onnxruntime, tensorrt (built on device)


def with_host_io(writer: BundleWriter, manifest: Manifest, say: Log) -> Manifest:
    """The onnxruntime artifact with its host interface (``edgekit.converters.host_io``), where it
    has its own ONNX (a TensorRT artifact builds from the same file, with the float interface)."""
    from edgekit.converters.host_io import applies, write_host_io

    backends = {a.backend for a in manifest.artifacts}
    if "onnxruntime" not in backends or "tensorrt" in backends or not applies(manifest):
        return manifest
    art = manifest.artifact("onnxruntime")
    io, extra = write_host_io(writer.dir / art.path, manifest)
    fresh = writer.artifact(art.path, art.backend, art.precision)
    host = dataclasses.replace(fresh, io=io, extra_outputs=extra)
    say(
        "onnxruntime model: uint8 pixel input"
        + (f", {' and '.join(o.name for o in extra)} outputs" if extra else "")
        + " (--no-host-io: float input)"
    )
    return dataclasses.replace(manifest, artifacts=tuple(host if a is art else a for a in manifest.artifacts))


def tool_versions() -> Dict[str, str]:
    tools = {"python": platform.python_version(), "edgekit": __version__}
    for name in ("torch", "onnx", "onnxruntime", "onnxslim", "openvino", "nncf", "numpy"):
        version = version_of(name)
        if version:
            tools[name] = version
    return tools
