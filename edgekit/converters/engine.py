"""``edgekit.convert``: checkpoint -> plan -> reparameterize -> ONNX (+ backends) -> verified bundle."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Optional, Union

from edgekit import progress
from edgekit.backends import BACKENDS, REFERENCE
from edgekit.bundle import BundleWriter, Manifest
from edgekit.contract.model import LoadedModel
from edgekit.converters import graph
from edgekit.converters.options import (
    ConvertOptions,
    check_calibration,
    choose_imgsz,
    default_bundle_path,
    make_plan,
    parse_names,
    with_names,
)
from edgekit.converters.stages import exported_head, write_onnx_bundle
from edgekit.devices import ConversionPlan
from edgekit.errors import ConversionError, EdgekitError, first_line
from edgekit.models.loader import family_of, load_checkpoint

Log = Callable[[str], None]


def convert(
    checkpoint: Union[str, Path], target: str = "cpu", log: Optional[Log] = None, **options: Any
) -> Path:
    """Convert ``checkpoint`` for ``target``; returns the bundle path. Same engine as ``edgekit convert``."""
    opts = ConvertOptions(target=target, **options)
    checkpoint = Path(checkpoint)
    plan = make_plan(opts)  # flags and calibration images are checked before the (slower) checkpoint read
    integer_io = any(BACKENDS.get(b).integer_io for b in plan.backends)
    if opts.int8_io and (plan.precision != "int8" or not integer_io):
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
        head = loaded.info.head
        if head.queries:  # what a query head cannot do is refused before calibration images are asked for
            plan = plan.with_head(head.bins, head.end2end, head.task, head.queries)
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
    if opts.head is not None:  # a dual-head model's other branch (--head)
        loaded = family_of(loaded.info.family).select_head(loaded, opts.head)
    elif loaded.info.structures.one_to_many_head:
        say(
            "two heads: exporting the NMS-free one2one head (--head one2many exports the "
            "one-to-many head + NMS, the one Ultralytics' val scores)"
        )
    info, names_from = with_names(opts, loaded.info)
    if info.head.end2end and info.head.max_det != opts.max_det:  # the graph's top-k is --max-det
        info = dataclasses.replace(info, head=dataclasses.replace(info.head, max_det=opts.max_det))
    loaded = dataclasses.replace(loaded, info=info)
    plan = plan.with_head(info.head.bins, info.head.end2end, info.head.task, info.head.queries)
    backends = list(plan.backends) or [REFERENCE]
    if not any(plan.precision in BACKENDS.get(b).precisions for b in backends):
        raise ConversionError(
            f"precision {plan.precision} is not implemented yet for {', '.join(backends)}: "
            "use --precision fp32"
        )
    say(plan.describe(imgsz_from))
    heads = None
    if opts.val is not None and opts.head is None and loaded.info.structures.one_to_many_head:
        from edgekit.converters.head_choice import compare_heads

        try:  # a report beside the conversion: its failure is said, the conversion goes on
            with progress.session(opts.progress, opts.verbose), progress.step("comparing heads on --val"):
                heads = compare_heads(loaded, opts, plan)
        except EdgekitError as exc:
            say(f"both heads not compared on --val: {first_line(exc)}")
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
    if heads is not None:
        from edgekit.converters.head_choice import report_lines

        for line in report_lines(heads, exported_head(info) or "one2one"):
            say(line)
    return dest


def build_engine_here(dest: Path, manifest: Manifest, say: Log) -> None:
    """On a Jetson (TensorRT importable), build the bundle's engine right away, as ``edgekit build``."""
    trt = [a for a in manifest.artifacts if BACKENDS.get(a.backend).built_on_device]
    if not trt or BACKENDS.get(trt[0].backend).importable() is None:
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
