"""What ``edgekit convert`` was asked for: ``ConvertOptions``, the plan they resolve to, the input
size and the calibration set, all checked before the (slow) reparameterization and export."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from edgekit.contract.model import ModelInfo
from edgekit.devices import ConversionPlan, resolve_plan
from edgekit.errors import CalibrationError, ConversionError, InputFileError, UnsupportedTargetError
from edgekit.vocab import (
    CALIB_IMAGES,
    DEFAULT_CONF,
    DEFAULT_IOU,
    DEFAULT_MAX_DET,
    MAX_MAP_DROP,
    MIN_CALIB_IMAGES,
)


@dataclass
class ConvertOptions:
    """What ``edgekit convert`` / ``edgekit.convert(...)`` was asked for, one field per CLI option
    (``None``: the target profile's or the checkpoint's default). Resolved by ``make_plan`` and
    ``choose_imgsz``; INT8 fields go to ``int8_options``."""

    target: str = "cpu"
    imgsz: Union[int, Sequence[int], None] = None
    precision: Optional[str] = None
    backend: Optional[str] = None
    opset: Optional[int] = None
    dynamic: bool = False
    max_batch: Optional[int] = None  # with dynamic: the TensorRT optimization profile's max
    nms: Union[bool, str, None] = None
    head: Optional[str] = None  # dual-head models: "one2one" (NMS-free) or "one2many" (+ NMS)
    dfl: Optional[str] = None
    jetpack: Optional[str] = None
    dla_core: Optional[int] = None
    arch: Optional[str] = None
    conf: float = DEFAULT_CONF
    iou: float = DEFAULT_IOU
    max_det: int = DEFAULT_MAX_DET
    simplify: bool = True
    verify: bool = True
    host_io: bool = True  # onnxruntime model: uint8 pixels in, best score/class per anchor out
    measure: bool = True  # params / GFLOPs / CPU latency per reparameterization pass
    output: Optional[Path] = None
    # INT8 (see edgekit.converters.int8)
    calib: Optional[Path] = None
    calib_images: int = CALIB_IMAGES
    calib_method: Optional[str] = None  # None: percentile (onnxruntime CPU), minmax (TensorRT, OpenVINO)
    bias_correction: Optional[str] = None  # None: "full" (edgekit.calibration.recipe.QuantRecipe)
    silu_ranges: Optional[bool] = None  # None: on (onnxruntime Q/DQ)
    nncf_preset: Optional[str] = None  # None: "mixed" (asymmetric activations)
    keep_float: Sequence[str] = ()
    quantize_head: bool = False
    int8_io: bool = False  # TFLite: integer input/outputs instead of float
    val: Optional[Path] = None
    val_split: str = "val"
    max_map_drop: float = MAX_MAP_DROP
    allow_accuracy_loss: bool = False
    int8_fallback: bool = True  # on a missed bound, re-quantize with the most sensitive layers float
    allow_small_calib: bool = False  # INT8 from fewer than MIN_CALIB_IMAGES readable images
    names: Union[str, Path, Sequence[str], None] = None  # class names: a data.yaml, a .txt, "a,b,c"
    progress: Optional[bool] = None  # a live line per long step; None: when stderr is a terminal
    verbose: bool = False  # let torch / onnxruntime / OpenVINO / LiteRT print their warnings and logs
    extra: Dict[str, Any] = field(default_factory=dict)

    def int8_options(self) -> Any:
        from edgekit.converters.int8 import Int8Options

        if self.calib is None:
            raise ConversionError(
                "INT8 needs calibration images: pass --calib (an image folder, a video, a data.yaml "
                f"or a COCO json; {CALIB_IMAGES} images by default)"
            )
        return Int8Options(
            Path(self.calib),
            images=self.calib_images,
            method=self.calib_method,
            bias_correction=self.bias_correction,
            silu_ranges=self.silu_ranges,
            preset=self.nncf_preset,
            keep_float=tuple(self.keep_float),
            quantize_head=self.quantize_head,
            int8_io=self.int8_io,
            val=Path(self.val) if self.val else None,
            val_split=self.val_split,
            max_map_drop=self.max_map_drop,
            fallback=self.int8_fallback,
            allow_loss=self.allow_accuracy_loss,
        )


def default_bundle_path(checkpoint: Path, plan: ConversionPlan) -> Path:
    return Path.cwd() / f"{checkpoint.stem}-{plan.alias_used or plan.target}.edgekit"


def make_plan(opts: ConvertOptions) -> ConversionPlan:
    if opts.max_batch is not None and (not opts.dynamic or opts.max_batch < 1):
        raise UnsupportedTargetError(f"--max-batch {opts.max_batch} needs --dynamic and a batch of 1 or more")
    plan = resolve_plan(
        opts.target,
        precision=opts.precision,
        backend=opts.backend,
        jetpack=opts.jetpack,
        dla_core=opts.dla_core,
        imgsz=opts.imgsz,
        opset=opts.opset,
        dfl=opts.dfl,
        nms=opts.nms,
        dynamic=opts.dynamic,
    )
    return dataclasses.replace(plan, max_batch=opts.max_batch) if opts.max_batch is not None else plan


def choose_imgsz(opts: ConvertOptions, info: ModelInfo, plan: ConversionPlan) -> Tuple[ConversionPlan, str]:
    """The plan at the input size to build, and where that size came from.

    ``--imgsz`` wins; else the size the checkpoint records it was trained at (as Ultralytics'
    ``yolo export`` does); else the target profile's default.
    """
    if opts.imgsz is not None:
        return plan, "--imgsz"
    trained = tuple(int(v) for v in info.imgsz)
    if not info.imgsz_recorded:
        return plan, f"the {plan.target} profile's default; the checkpoint records no training size"
    recorded = "the checkpoint's training size"
    if trained == tuple(plan.imgsz):
        return plan, recorded
    try:
        return make_plan(ConvertOptions(**{**opts.__dict__, "imgsz": trained})), recorded
    except UnsupportedTargetError as exc:
        return plan, f"the {plan.target} profile's default; the training size {trained} does not fit: {exc}"


def check_calibration(opts: ConvertOptions, plan: ConversionPlan) -> Optional[Dict[str, Any]]:
    """For an INT8 plan, refuse a calibration set that cannot give usable scales (before any export).

    Walks the source's candidates, decoding images until ``MIN_CALIB_IMAGES`` read; fewer
    is an error unless ``opts.allow_small_calib``. Returns the counts seen, None for float plans.
    """
    if plan.precision != "int8":
        return None
    opts.int8_options()  # --calib given at all
    from edgekit.calibration.data import readable_images

    source = Path(opts.calib)  # type: ignore[arg-type]
    wanted = min(MIN_CALIB_IMAGES, opts.calib_images)
    found = readable_images(source, wanted)
    if found["readable"] < MIN_CALIB_IMAGES and not opts.allow_small_calib:
        skipped = f", {found['skipped']} unreadable or not images" if found["skipped"] else ""
        raise CalibrationError(
            f"{source}: {found['readable']} readable calibration images{skipped}; INT8 needs at least "
            f"{MIN_CALIB_IMAGES} ({CALIB_IMAGES} by default) representative images, or --allow-small-calib"
        )
    return found


def parse_names(spec: Union[str, Path, Sequence[str]]) -> Tuple[str, ...]:
    """Class names from ``--names``: a YOLO ``data.yaml`` (``names`` as a list or {id: name}), a text
    file of one name per line, or comma-separated names; a list is taken as is."""
    if not isinstance(spec, (str, Path)):
        names = tuple(str(n).strip() for n in spec)
        origin: Union[str, Path] = "--names"
    elif Path(spec).suffix.lower() in (".yaml", ".yml", ".txt") or Path(spec).is_file():
        origin = Path(spec)
        names = _names_from_file(origin)
    else:
        origin = "--names"
        names = tuple(n.strip() for n in str(spec).split(","))
    if not names or any(not n for n in names):
        raise InputFileError(Path(origin), f"empty class name in {list(names)}")
    return names


def _names_from_file(path: Path) -> Tuple[str, ...]:
    if not path.is_file():
        raise InputFileError(path, "no such names file (a data.yaml, a .txt of one name per line, or a,b,c)")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".txt":
        return tuple(line.strip() for line in text.splitlines() if line.strip())
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputFileError(path, f"not valid YAML ({str(exc).splitlines()[0]})") from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict) and all(isinstance(k, int) for k in names):
        if sorted(names) != list(range(len(names))):
            raise InputFileError(path, f"'names' ids must be 0..{len(names) - 1}, got {sorted(names)}")
        return tuple(str(names[i]) for i in range(len(names)))
    if isinstance(names, list):
        return tuple(str(n) for n in names)
    raise InputFileError(path, "no 'names' list or {id: name} mapping")


def with_names(opts: ConvertOptions, info: ModelInfo) -> Tuple[ModelInfo, Optional[str]]:
    """``info`` with the class names of ``opts.names`` (as many as the model's classes), and a
    line saying where they came from; ``info`` itself and None without ``--names``."""
    if opts.names is None:
        return info, None
    names = parse_names(opts.names)
    origin = opts.names if isinstance(opts.names, (str, Path)) else "--names"
    if len(names) != info.nc:
        raise ConversionError(
            f"{origin}: {len(names)} class names, but the model has {info.nc} classes "
            f"(its own names: {', '.join(info.names[:4])}{', ...' if info.nc > 4 else ''})"
        )
    return dataclasses.replace(info, names=list(names)), f"class names from {origin}"
