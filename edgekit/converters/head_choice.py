"""Both heads of a dual-head model (YOLOv10, YOLO26) measured on ``--val``, so the user picks with numbers.

``convert --val`` on such a model without ``--head`` converts each head to a temporary FP32
onnxruntime bundle at the plan's input size, scores both with the one evaluation module (the
bundle's decoding, and the one-to-many head also as ``yolo val`` decodes it) and times both end to
end on one ``--val`` image with the one harness. The bundle itself is not changed: the report says
which head it holds and what the other one would give.
"""

from __future__ import annotations

import contextlib
import copy
import tempfile
from functools import partial
from pathlib import Path
from typing import Any, Dict, List

from edgekit.contract.model import LoadedModel
from edgekit.converters.options import ConvertOptions
from edgekit.devices import ConversionPlan
from edgekit.timing import Schedule, median_ms
from edgekit.vocab import HEADS, METRIC_LABELS

TIMED_RUNS = 20  # per head, in rotating warmed blocks


def head_bundle(
    loaded: LoadedModel, head: str, opts: ConvertOptions, plan: ConversionPlan, dest: Path
) -> Path:
    """``head``'s branch of a copy of ``loaded`` as an FP32 onnxruntime bundle at the plan's size."""
    from edgekit.converters.engine import convert_loaded
    from edgekit.models.loader import family_of

    model = LoadedModel(copy.deepcopy(loaded.model), loaded.info)  # the branch switch is in place
    picked = family_of(loaded.info.family).select_head(model, head)
    fp32 = ConvertOptions(  # only what shapes the model and its decoding: no device, INT8 or build flags
        target="cpu",
        backend="onnxruntime",
        precision="fp32",
        imgsz=tuple(plan.imgsz),
        head=head,
        arch=opts.arch,
        conf=opts.conf,
        iou=opts.iou,
        max_det=opts.max_det,
        names=opts.names,
        val=opts.val,
        val_split=opts.val_split,
        measure=False,
        progress=False,
        verbose=opts.verbose,
        output=dest,
    )
    return convert_loaded(picked, dest, fp32)


def head_figures(bundles: Dict[str, Path], opts: ConvertOptions) -> Dict[str, Dict[str, Any]]:
    """mAP50-95 (points) of each head's bundle on ``--val`` (the task's own metric) and its median
    end-to-end milliseconds on the set's first image, both heads timed in alternating blocks."""
    from edgekit.decoding.images import load_image
    from edgekit.detector import Detector
    from edgekit.eval.validate import load_labelled_set, subset_metric
    from edgekit.vocab import TASK_IOU_TYPE

    with contextlib.ExitStack() as stack:
        detectors = {
            head: stack.enter_context(Detector(path, backend="onnxruntime")) for head, path in bundles.items()
        }
        task = next(iter(detectors.values())).manifest.decoder.task
        gt, folder = load_labelled_set(opts.val, opts.val_split, task=task)  # read once for every score
        figures: Dict[str, Dict[str, Any]] = {}
        for head, det in detectors.items():
            protocols = ("coco", "ultralytics") if head == "one2many" else ("coco",)
            figures[head] = {"images": len(gt["images"]), "metric": TASK_IOU_TYPE.get(task, "bbox")}
            for protocol in protocols:
                figures[head][protocol] = 100 * subset_metric(det, gt, folder, gt["images"], protocol)
        frame = load_image(folder / gt["images"][0]["file_name"])
        times = median_ms([partial(det, frame) for det in detectors.values()], Schedule.for_runs(TIMED_RUNS))
        for head, ms in zip(detectors, times):
            figures[head]["ms"] = ms
        return figures


def report_lines(figures: Dict[str, Dict[str, Any]], kept: str) -> List[str]:
    """The convert output: one line per head, and what the other head would change."""
    other = next(h for h in HEADS if h != kept)
    images, metric = figures[kept]["images"], METRIC_LABELS[figures[kept]["metric"]]
    lines = [f"both heads on --val ({images} images, onnxruntime FP32, end to end on one of its images):"]
    for head in HEADS:
        f = figures[head]
        kind = "NMS-free" if head == "one2one" else "+ NMS"
        as_yolo = f" ({f['ultralytics']:.2f} as yolo val decodes)" if "ultralytics" in f else ""
        mark = "  <- this bundle" if head == kept else ""
        lines.append(f"  {head} ({kind}): {metric} mAP50-95 {f['coco']:.2f}{as_yolo}, {f['ms']:.2f} ms{mark}")
    gain = figures[other]["coco"] - figures[kept]["coco"]
    cost = figures[other]["ms"] - figures[kept]["ms"]
    lines.append(f"  --head {other} would give {gain:+.2f} points at {cost:+.2f} ms per image")
    return lines


def compare_heads(
    loaded: LoadedModel, opts: ConvertOptions, plan: ConversionPlan
) -> Dict[str, Dict[str, Any]]:
    """Convert, score and time both heads (``--val`` given, no ``--head``); per head: ``coco`` (and
    for one2many ``ultralytics``) mAP50-95 points, ``ms``, ``images`` (``report_lines`` says them)."""
    with tempfile.TemporaryDirectory(prefix="edgekit-heads-") as tmp:
        bundles = {
            head: head_bundle(loaded, head, opts, plan, Path(tmp) / f"{head}.edgekit") for head in HEADS
        }
        return head_figures(bundles, opts)
