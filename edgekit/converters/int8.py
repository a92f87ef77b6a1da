"""INT8 artifacts of a bundle: calibrate, quantize per backend, check accuracy, fall back to float.

The FP32 ONNX written by the engine is the source. Each backend's INT8 model is checked against
it on calibration-disjoint images with ``edgekit.verify``'s INT8 bounds (``int8_agreement``) and, with
``--val``, by mAP on a labelled set with the one evaluation module. When a bound is missed, the
layers that lose the most SNR themselves in that backend's INT8 model are kept float and the model
is quantized again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from edgekit import progress
from edgekit.backends import BACKENDS, REFERENCE
from edgekit.bundle import Bundle
from edgekit.bundle.int8_record import BackendInt8, FallbackRound, Int8Report
from edgekit.bundle.manifest import Artifact, Manifest
from edgekit.calibration.fallback import MAP_DROP_AIM, Aim, Candidates, Trial, search
from edgekit.calibration.recipe import QuantRecipe
from edgekit.converters.int8_report import summary_line
from edgekit.errors import ConversionError
from edgekit.verify import INT8
from edgekit.vocab import METRIC_LABELS

Log = Callable[[str], None]
INT8_ONNX = "model.int8.onnx"
CHECK_IMAGES = 32  # calibration-disjoint images of the always-on agreement check
# The bounds (box cosine, detection match rate with its hysteresis, mAP drop) are edgekit.verify's
# INT8 bounds: see edgekit/verify/bounds.py for the numbers and why.
MAX_MAP_DROP = INT8.max_map_drop  # mAP50-95 points, with --val
#: the --val figures a backend's report carries (``BackendInt8``)
VAL_FIGURES = (
    "val_metric",
    "map50_95_fp32",
    "map50_95_int8",
    "map_drop_points",
    "val_images",
    "box_map50_95_fp32",
    "box_map50_95_int8",
)
TFLITE_FP32 = "model.fp32.tflite"  # the engine writes it for the TFLite quantizer; removed afterwards
#: ``(builder, backend, exclude, writer) -> (artifact, what ran)``: a backend's INT8 quantizer
#: (``Backend.quantizer``, in ``edgekit.converters.int8_quantizers``), calibrated on
#: ``builder.data`` from the FP32 ONNX artifact
Quantizer = Callable[["Int8Builder", str, Sequence[str], Any], Tuple[Artifact, Dict[str, Any]]]
#: ``(builder, backend, exclude, int8 artifact) -> [(node, loss)]``: the fallback's candidates
#: (``Backend.ranking``), most sensitive first
Ranking = Callable[["Int8Builder", str, Sequence[str], Artifact], List[Tuple[str, float]]]


@dataclasses.dataclass
class Int8Options:
    calib: Path
    images: int = 300
    method: Optional[str] = None  # None: per backend (edgekit.calibration.recipe.default_method)
    bias_correction: Optional[str] = None  # None: "full" (BIAS_CORRECTIONS)
    silu_ranges: Optional[bool] = None  # None: on (onnxruntime Q/DQ)
    preset: Optional[str] = None  # NNCF's (NNCF_PRESETS); None: "mixed"
    keep_float: Sequence[str] = ()
    quantize_head: bool = False  # the naive baseline: decode tail quantized too (benchmarks only)
    int8_io: bool = False  # TFLite: int8 input (and int8 outputs where quantized) instead of float
    val: Optional[Path] = None
    val_split: str = "val"
    max_map_drop: float = MAX_MAP_DROP
    fallback: bool = True
    allow_loss: bool = False  # write the bundle even when the bounds are missed (reported in the manifest)
    query_head: bool = False  # a DETR-style model (HeadSpec.queries): only its convolutions quantized


def runnable(artifact: Artifact) -> Artifact:
    """The artifact as this machine runs it: a Q/DQ ONNX built into an engine on the device (TensorRT)
    runs in the reference backend here."""
    if BACKENDS.get(artifact.backend).built_on_device:
        return dataclasses.replace(artifact, backend=REFERENCE)
    return artifact


def single(manifest: Manifest, artifact: Artifact) -> Manifest:
    return dataclasses.replace(manifest, artifacts=(runnable(artifact),))


class Int8Builder:
    """Builds and checks the INT8 artifacts of one bundle directory."""

    def __init__(self, root: Path, manifest: Manifest, plan: Any, opts: Int8Options, say: Log) -> None:
        from edgekit.calibration import CalibrationData

        self.root, self.manifest, self.plan, self.opts, self.say = root, manifest, plan, opts, say
        self.fp32 = manifest.artifact(REFERENCE)
        self.data = CalibrationData(opts.calib, manifest, count=opts.images, progress=True)
        self.check = self._check_images()
        self.recipes = {b: self.recipe_for(b) for b in plan.backends}
        self.scope = self._scope()
        self._fp32_val: Optional[Dict[str, Any]] = None
        self.bounds = dataclasses.replace(INT8, max_map_drop=opts.max_map_drop)

    def recipe_for(self, backend: str) -> QuantRecipe:
        """``backend``'s recipe: the user's flags over the plan's constraints over the defaults."""
        o = self.opts
        return QuantRecipe.resolve(
            backend,
            self.plan.int8_for(backend),
            method=o.method,
            bias_correction=o.bias_correction,
            silu_ranges=o.silu_ranges,
            preset=o.preset,
            images=o.images,
            keep_float=tuple(o.keep_float),
            quantize_head=o.quantize_head,
        )

    def _check_images(self) -> Tuple[List[np.ndarray], str]:
        from edgekit.calibration import CalibrationData
        from edgekit.errors import CalibrationError

        try:
            extra = CalibrationData(
                self.opts.calib, self.manifest, count=CHECK_IMAGES, start=len(self.data), min_recommended=0
            )
            return list(extra), "calibration-disjoint"
        except CalibrationError:  # every image went into calibration: check on those (said so)
            return list(self.data)[:CHECK_IMAGES], "calibration images: none left disjoint"

    @functools.cached_property
    def fp32_onnx(self) -> Any:
        """The FP32 ONNX every round quantizes from (an ``onnx.ModelProto``), read once."""
        import onnx

        return onnx.load(str(self.root / self.fp32.path))

    def _scope(self) -> Any:
        from edgekit.calibration.float_scope import head_float_scope

        return head_float_scope(self.fp32_onnx, extra=self.opts.keep_float, query_head=self.opts.query_head)

    def excluded(self, more: Sequence[str] = ()) -> List[str]:
        base = list(self.opts.keep_float) if self.opts.quantize_head else self.scope.nodes()
        return list(dict.fromkeys([*base, *more]))

    # ---- quantizers ------------------------------------------------------------------

    def quantize(self, backend: str, exclude: Sequence[str], writer: Any) -> Tuple[Artifact, Dict[str, Any]]:
        """``backend``'s INT8 artifact with ``exclude`` kept float, by its descriptor's quantizer,
        and what that quantizer ran."""
        quantizer: Quantizer = BACKENDS.get(backend).hook("quantizer")
        return quantizer(self, backend, exclude, writer)

    # ---- checks ----------------------------------------------------------------------

    def agreement(self, artifact: Artifact) -> Dict[str, Any]:
        """Raw outputs and detections of ``artifact`` against the FP32 ONNX (``int8_agreement``)."""
        from edgekit.converters.int8_agreement import agreement
        from edgekit.detector import Detector

        images, kind = self.check
        ref = Detector(Bundle(self.root, single(self.manifest, self.fp32)), backend=REFERENCE)
        got = Detector(Bundle(self.root, single(self.manifest, artifact)), backend=runnable(artifact).backend)
        infer = float_interface(got)  # the same float tensors in and out, whatever the model's I/O
        with ref, got:
            figures = agreement(ref.runtime.infer, infer, ref.decoder, ref.options, images, self.bounds)
        return {"images_are": kind, **figures}

    def val_map(self, artifact: Artifact) -> Dict[str, Any]:
        """``artifact``'s mAP on ``--val``: the task's own metric (mask, keypoint or oriented-box
        mAP for a segment / pose / OBB model, else box mAP), with the box figure beside it."""
        from edgekit.eval.validate import validate

        bundle = Bundle(self.root, single(self.manifest, artifact))
        result, facts = validate(bundle, self.opts.val, split=self.opts.val_split, threads=None)
        own = result.task_result or result
        return {
            "metric": own.iou_type,
            "map50_95": own.map50_95,
            "map50": own.map50,
            "box_map50_95": result.map50_95,
            "images": facts["images"],
        }

    @contextlib.contextmanager
    def validation_detector(self, backend: str) -> Iterator[Tuple[Any, Dict[str, Any], Path]]:
        """A ``Detector`` over the FP32 ONNX opened by ``backend`` (whose compiled model NNCF's
        accuracy control swaps in), with the ``--val`` ground truth and image folder."""
        from edgekit.detector import Detector
        from edgekit.eval.validate import load_labelled_set

        source = dataclasses.replace(self.fp32, backend=backend)
        with Detector(Bundle(self.root, single(self.manifest, source))) as det:
            gt, folder = load_labelled_set(self.opts.val, self.opts.val_split, task=det.manifest.decoder.task)
            yield det, gt, folder

    def fp32_val(self) -> Dict[str, Any]:
        if self._fp32_val is None:
            self._fp32_val = self.val_map(self.fp32)
        return self._fp32_val

    def misses(self, figures: Dict[str, Any]) -> List[str]:
        """The bounds ``figures`` misses (empty: accepted)."""
        problems = list(figures["agreement"]["problems"])
        drop = figures.get("map_drop_points")
        if drop is not None and drop > self.opts.max_map_drop:
            what = METRIC_LABELS[figures.get("val_metric") or "bbox"]
            problems.append(f"{what} mAP50-95 drop {drop:.2f} points > {self.opts.max_map_drop}")
        return problems

    def weights(self, artifact: Artifact) -> Dict[str, Any]:
        """A Q/DQ ONNX's dequantized weights against the FP32 ONNX's (``edgekit.verify.weights``);
        a weight off by more than the bound is a quantizer defect, not an accuracy trade: it fails
        the conversion at once. NNCF's IR and LiteRT's flatbuffer are not read here."""
        from edgekit.converters.int8_weights import check_qdq_weights
        from edgekit.verify.weights import summarize_weights

        if not artifact.path.endswith(".onnx"):
            return {"checked": 0, "note": f"weights of a {artifact.backend} model are not read"}
        steps = float(self.bounds.weight_steps or 1.0)
        summary = summarize_weights(
            check_qdq_weights(self.root / artifact.path, self.fp32_onnx, steps), steps
        )
        if summary["problems"]:
            more = len(summary["problems"]) - 1
            raise ConversionError(
                f"INT8 weights do not match FP32 ({artifact.backend}: {artifact.path}): "
                f"{summary['problems'][0]}" + (f"; and {more} more" if more else "")
            )
        return summary

    def measure(self, artifact: Artifact) -> Dict[str, Any]:
        figures: Dict[str, Any] = {"weights": self.weights(artifact), "agreement": self.agreement(artifact)}
        if self.opts.val is not None:
            fp32, int8 = self.fp32_val(), self.val_map(artifact)
            figures.update(
                val_metric=int8["metric"],
                map50_95_fp32=fp32["map50_95"],
                map50_95_int8=int8["map50_95"],
                map_drop_points=round(100 * (fp32["map50_95"] - int8["map50_95"]), 2),
                val_images=int8["images"],
            )
            if int8["metric"] != "bbox":
                figures.update(box_map50_95_fp32=fp32["box_map50_95"], box_map50_95_int8=int8["box_map50_95"])
        return figures

    # ---- the loop --------------------------------------------------------------------

    def outcome(self, trial: Trial, figures: Dict[str, Any]) -> FallbackRound:
        agreement = figures["agreement"]
        return trial.outcome(self.misses(figures), agreement["match_rate"], figures.get("map_drop_points"))

    def build(self, backend: str, writer: Any) -> Tuple[Artifact, BackendInt8]:
        """Quantize for ``backend``; on a missed bound, or a val drop above the aim, search for the
        layers to keep float (``edgekit.calibration.fallback``) and keep its chosen round."""
        exclude = self.excluded()
        artifact, ran = self.quantize(backend, exclude, writer)
        figures = self.measure(artifact)
        rounds = [self.outcome(Trial(), figures)]
        aim = Aim(self.opts.max_map_drop)
        # NNCF's accuracy control has already returned layers to float against the val drop
        searched = "accuracy_control" in ran
        if self.opts.fallback and not searched and aim.wants_more(rounds[0]):
            head = self.head_round(backend, exclude)
            ranking = self.ranking(backend, exclude, artifact)
            candidates = Candidates(tuple(head), tuple(n for n, _ in ranking if n not in head))

            def evaluate(trial: Trial) -> FallbackRound:
                nonlocal artifact, ran, figures
                self.say(trial.line(backend))
                artifact, ran = self.quantize(backend, self.excluded(trial.keep_float), writer)
                figures = self.measure(artifact)
                return self.outcome(trial, figures)

            rounds = search(rounds[0], candidates, aim, evaluate)
        report = BackendInt8(
            quantizer=ran,
            recipe=self.recipes[backend].to_dict(),
            weights=figures.get("weights", {}),
            agreement=figures["agreement"],
            rounds=tuple(rounds),
            accepted=rounds[-1].accepted,
            misses=rounds[-1].misses,
            **{k: figures[k] for k in VAL_FIGURES if k in figures},
        )
        self.say(summary_line(backend, report))
        return artifact, report

    def head_round(self, backend: str, exclude: Sequence[str]) -> List[str]:
        """The nodes of the head's branches (``FloatScope.head_branches``) not yet float, for the
        Q/DQ backends: the first fallback round keeps them all float, the ranked rounds add layers
        on top. onnxruntime quantizes every conv output before its SiLU, and on the YOLO26
        fixture's Q/DQ model (2,000 held-out images) the head alone lost 0.30 of its 0.60 points
        (backbone 0.21, neck 0.15). NNCF quantizes only weighted layers' inputs, and its ranked
        fallback met the bound on every fixture; TFLite's fallback has its own candidates."""
        if not BACKENDS.get(backend).qdq_int8:
            return []
        excluded = set(exclude)
        return [n for n in self.scope.head_branches if n not in excluded]

    def ranking(self, backend: str, exclude: Sequence[str], artifact: Artifact) -> List[Tuple[str, float]]:
        """The fallback's candidates, most sensitive first, by the backend's ``Backend.ranking`` hook
        (``edgekit.converters.int8_quantizers``)."""
        rank: Ranking = BACKENDS.get(backend).hook("ranking")
        return rank(self, backend, exclude, artifact)


def float_interface(det: Any) -> Callable[[np.ndarray], Dict[str, np.ndarray]]:
    """``det``'s model with float input and outputs, its integer I/O (de)quantized per its manifest."""
    from edgekit.decoding.preprocess import dequantize, quantize

    inp, outputs = det.manifest.input, det.manifest.outputs

    def infer(x: np.ndarray) -> Dict[str, np.ndarray]:
        if inp.quantization is not None:
            x = quantize(x, inp.quantization, np.dtype(inp.dtype))
        raw = det.runtime.infer(x)
        for spec in outputs:
            if spec.quantization is not None:
                raw[spec.name] = dequantize(raw[spec.name], spec.quantization)
        return raw

    return infer


def build_int8(
    writer: Any, manifest: Manifest, plan: Any, backends: Sequence[str], opts: Int8Options, say: Log
) -> Tuple[Tuple[Artifact, ...], Int8Report]:
    """INT8 artifacts for ``backends`` in ``writer.dir`` (the FP32 ONNX artifact is the source)."""
    builder = Int8Builder(writer.dir, manifest, plan, opts, say)
    say(
        f"calibrating on {len(builder.data)} images from {opts.calib} "
        f"({builder.data.skipped} skipped); kept float: {len(builder.scope.tail)} {builder.scope.kind} nodes"
    )
    artifacts: List[Artifact] = []
    reports: Dict[str, BackendInt8] = {}
    for backend in backends:
        progress.note(f"INT8: calibrating and quantizing the {backend} model on {len(builder.data)} images")
        artifact, reports[backend] = builder.build(backend, writer)
        artifacts.append(artifact)
    failed = {b: r.misses for b, r in reports.items() if not r.accepted}
    report = Int8Report(
        calibration=builder.data.report(),
        float_scope=builder.scope.to_dict(),
        head_quantized=opts.quantize_head,
        bounds={**builder.bounds.to_dict(), "map_drop_aim": MAP_DROP_AIM * opts.max_map_drop},
        backends=reports,
    )
    if failed and not opts.allow_loss:
        detail = "; ".join(f"{b}: {', '.join(m)}" for b, m in failed.items())
        raise ConversionError(
            f"INT8 misses its accuracy bounds after fallback ({detail}); try more --calib images, "
            "--calib-method percentile, --keep-float NODE, or --precision fp16 (--allow-accuracy-loss "
            "writes it anyway)"
        )
    remove_source(writer.dir, manifest, artifacts)
    return tuple(artifacts), report


def remove_source(root: Path, manifest: Manifest, artifacts: Sequence[Artifact]) -> None:
    """Delete the FP32 ONNX once the INT8 artifacts exist (an INT8 bundle carries INT8 models)."""
    keep = {a.path for a in artifacts} | {f.path for a in artifacts for f in a.files}
    source = manifest.artifact(REFERENCE).path
    if source not in keep:
        (root / source).unlink(missing_ok=True)
    (root / TFLITE_FP32).unlink(missing_ok=True)
