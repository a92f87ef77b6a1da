"""Ultralytics YOLO as an edgekit family: recognise, rebuild and load official checkpoints.

An Ultralytics checkpoint pickles the whole ``ultralytics.nn.tasks.DetectionModel`` (or
``SegmentationModel`` / ``PoseModel`` / ``OBBModel``; FP16) under ``model`` (or ``ema`` in a
trainer's ``last.pt``). Its ``yaml`` attribute is the architecture dict; edgekit rebuilds the
network from it with its own modules (:mod:`edgekit.models.ultralytics.build`) and loads the
weights with ``strict=True``.
Activations and BatchNorm eps are then taken from the pickled modules themselves, so the
checkpoint wins over any difference between Ultralytics versions. The task (``HeadSpec.task``)
comes from the yaml's head module, else the model class, else ``task`` in the training args.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

import torch
from torch import nn

from edgekit.contract.model import HeadSpec, LoadedModel, ModelInfo, PreprocessSpec, TrainStructures
from edgekit.errors import InputFileError, UnsupportedModelError
from edgekit.loading.records import Record, iter_records, record_state_dict
from edgekit.models.base import FAMILIES, Family, load_weights
from edgekit.models.ultralytics.archs import VARIANTS, get_arch
from edgekit.models.ultralytics.blocks import RepVGGDW
from edgekit.models.ultralytics.build import RTDETRModel, UltralyticsModel, model_scale
from edgekit.models.ultralytics.conv import ACTIVATIONS, Conv, RepConv
from edgekit.models.ultralytics.rtdetr_info import is_rtdetr_yaml, rtdetr_info
from edgekit.models.ultralytics.task_heads import TASK_HEADS
from edgekit.vocab import TASKS

if TYPE_CHECKING:
    from edgekit.loading.checkpoint import RawCheckpoint

MODEL_CLASS_PREFIX = "ultralytics.nn.tasks."
#: Ultralytics model classes edgekit converts, with their task
MODEL_TASKS = {
    "DetectionModel": "detect",
    "SegmentationModel": "segment",
    "PoseModel": "pose",
    "OBBModel": "obb",
    "RTDETRDetectionModel": "detect",
}
#: Ultralytics model classes edgekit recognises but does not convert, with their task
OTHER_TASKS = {
    "ClassificationModel": "classify",
    "WorldModel": "world (open-vocabulary detect)",
    "YOLOEModel": "yoloe (open-vocabulary detect)",
    "YOLOESegModel": "yoloe segment",
    "SemanticModel": "semantic",
    "DepthModel": "depth",
}
#: the task of a yaml's head module (the last row); heads of tasks outside TASKS are refused
HEAD_TASKS = {"Detect": "detect", "v10Detect": "detect", **{n: h.task for n, h in TASK_HEADS.items()}}
HEAD_TASKS.update(
    {"Classify": "classify", "RTDETRDecoder": "detect", "WorldDetect": "world (open-vocabulary detect)"}
)
HEAD_TASKS.update({"YOLOEDetect": "yoloe (open-vocabulary detect)", "YOLOESegment": "yoloe segment"})
HEAD_TASKS.update({"YOLOESegment26": "yoloe segment", "Depth": "depth", "SemanticSegment": "semantic"})
_STATE_DICT_HEAD = re.compile(r"^model\.\d+\.cv3\.\d+\.\d+")


def _short(cls: str) -> str:
    return cls.rsplit(".", 1)[-1]


def detect_task(rec: Record, cfg: Optional[Mapping[str, Any]], train_args: Mapping[str, Any]) -> str:
    """The task the checkpoint was trained for: a value of ``TASKS`` or the name of another task.

    A model class edgekit does not convert decides first, then the yaml's head module (an unknown
    head that is no detect head names itself), then the model class, then ``task`` in the args.
    """
    name = _short(rec.cls)
    if name in OTHER_TASKS:
        return OTHER_TASKS[name]
    if cfg:
        head = str(cfg.get("head", [[None, None, ""]])[-1][2])
        if head in HEAD_TASKS or "detect" not in head.lower():
            return HEAD_TASKS.get(head, head)
    if name in MODEL_TASKS:
        return MODEL_TASKS[name]
    args = rec.attr("args", None)
    task = (args.get("task") if isinstance(args, Mapping) else None) or train_args.get("task")
    return str(task) if task else "detect"


def variant_name(cfg: Mapping[str, Any]) -> str:
    """``yolo11n`` from the yaml file name (``yolo11n.yaml``), else ``ultralytics-custom``."""
    stem = Path(str(cfg.get("yaml_file") or "")).stem
    return stem or "ultralytics-custom"


def _imgsz(train_args: Mapping[str, Any]) -> Optional[Tuple[int, int]]:
    """The training size of ``train_args`` (None when the checkpoint records none)."""
    size = train_args.get("imgsz")
    if isinstance(size, (list, tuple)) and size:
        return (int(size[0]), int(size[-1]))
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        return (size, size)
    return None


def _names(value: Any, nc: int) -> List[str]:
    names = [str(i) for i in range(nc)]
    if isinstance(value, Mapping):
        for k, v in value.items():
            if 0 <= int(k) < nc:
                names[int(k)] = str(v)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value[:nc]):
            names[i] = str(v)
    return names


def _activation(rec: Record, where: str) -> nn.Module:
    name = _short(rec.cls)
    if not rec.cls.startswith("torch.nn.") or name not in ACTIVATIONS:
        raise UnsupportedModelError(f"{where}: activation {rec.cls} is not supported")
    if name == "LeakyReLU":
        return nn.LeakyReLU(float(rec.attr("negative_slope", 0.01)))
    return ACTIVATIONS[name]()


def sync_from_record(model: nn.Module, rec: Record, source: str = "checkpoint") -> None:
    """Copy activations and BatchNorm eps from the pickled modules onto the rebuilt model."""
    records: Dict[str, Record] = dict(iter_records(rec))
    for name, module in model.named_modules():
        node = records.get(name)
        if node is None:
            continue
        if isinstance(module, nn.BatchNorm2d):
            eps = node.attr("eps", None)
            if isinstance(eps, float):
                module.eps = eps
        elif isinstance(getattr(module, "act", None), nn.Module):
            act = node.children().get("act")
            if act is not None and _short(act.cls) != type(module.act).__name__:
                module.act = _activation(act, f"{source}: {name}")


def train_structures(model: UltralyticsModel) -> TrainStructures:
    reps = [m for m in model.modules() if isinstance(m, (RepConv, RepVGGDW))]
    inside = {id(c) for r in reps for c in r.modules() if isinstance(c, Conv)}
    convs = [m for m in model.modules() if isinstance(m, Conv) and id(m) not in inside]
    return TrainStructures(
        rep_branches=len(reps),
        conv_bn=len(convs),
        dfl=model.reg_max > 1,
        one_to_many_head=model.head.has_one2one and model.head.has_one2many,
        train_only_head=len(model.head.train_only_parts()),
    )


def head_spec(model: UltralyticsModel) -> HeadSpec:
    """The decoder's facts about the model's head, task facts included."""
    head = model.head
    return HeadSpec(
        strides=tuple(int(round(float(s))) for s in model.stride),
        bins=model.reg_max,
        anchor_offset=0.5,
        end2end=model.end2end,
        max_det=300,
        nc=model.nc,
        task=head.task,
        masks=int(getattr(head, "nm", 0)),
        keypoints=tuple(getattr(head, "kpt_shape", (0, 0))),  # type: ignore[arg-type]
        keypoint_decode=str(getattr(head, "keypoint_decode", "")),
        angle_decode=str(getattr(head, "angle_decode", "")),
    )


def model_info(model: UltralyticsModel, variant: str, imgsz: Optional[Tuple[int, int]] = None) -> ModelInfo:
    head = head_spec(model)
    scale = model_scale(model.yaml)[0]
    return ModelInfo(
        family="ultralytics",
        variant=variant,
        names=list(model.names),
        head=head,
        preprocess=PreprocessSpec(resize="letterbox", pad_value=114, color="RGB", scale=1.0 / 255.0),
        imgsz=imgsz or (640, 640),
        imgsz_recorded=imgsz is not None,
        structures=train_structures(model),
        extra={"yaml": copy.deepcopy(model.yaml), "scale": scale, "legacy_head": bool(model.head.legacy)},
    )


def _shapes(sd: Mapping[str, torch.Tensor]) -> Dict[str, Tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in sd.items()}


def infer_scale(cfg: Dict[str, Any], sd: Mapping[str, torch.Tensor]) -> Optional[str]:
    """The scale whose architecture has exactly the checkpoint's tensor shapes (yaml without ``scale``)."""
    want = _shapes(sd)
    for scale in cfg.get("scales") or {}:
        trial = {**cfg, "scale": scale}
        ch = int(cfg.get("channels", 3))
        with torch.device("meta"):
            built = (
                RTDETRModel(trial, ch) if is_rtdetr_yaml(cfg) else UltralyticsModel(trial, ch, (8, 16, 32))
            )
        if _shapes(built.state_dict()) == want:
            return scale
    return None


class UltralyticsFamily(Family):
    """Ultralytics YOLOv8 / YOLOv9 (GELAN) / YOLOv10 / YOLO11 / YOLO12 / YOLO26 detection models, the
    segment / pose / OBB models of v8, 11 and 26, and RT-DETR (HGNetv2 / ResNet backbones)."""

    name = "ultralytics"
    variants = VARIANTS

    def score(self, ckpt: RawCheckpoint) -> float:
        try:
            picked = ckpt.pick_model()
        except InputFileError:  # no model in it at all
            return 0.0
        if isinstance(picked, Record):
            if not picked.cls.startswith("ultralytics."):
                return 0.0
            cfg = picked.attr("yaml", None)
            has_arch = isinstance(cfg, Mapping) and "backbone" in cfg and "head" in cfg
            return 1.0 if has_arch and picked.cls.startswith(MODEL_CLASS_PREFIX) else 0.5
        if isinstance(picked, Mapping) and any(_STATE_DICT_HEAD.match(str(k)) for k in picked):
            return 0.3  # an Ultralytics-style bare state dict: loadable with --arch
        return 0.0

    def load(self, ckpt: RawCheckpoint, arch: Optional[str] = None) -> LoadedModel:
        source = Path(ckpt.path).name
        train_args = ckpt.get("train_args") or {}
        train_args = train_args if isinstance(train_args, Mapping) else {}
        rec = ckpt.model_record()
        if rec is None:
            return self._load_state_dict(ckpt, arch, source, train_args)
        cfg = rec.attr("yaml", None)
        task = detect_task(rec, cfg if isinstance(cfg, Mapping) else None, train_args)
        if task not in TASKS:
            raise UnsupportedModelError(
                f"{source}: an Ultralytics {task} model ({_short(rec.cls)}); "
                f"edgekit converts Ultralytics {', '.join(TASKS)} models"
            )
        if not isinstance(cfg, Mapping) or "backbone" not in cfg or "head" not in cfg:
            raise UnsupportedModelError(f"{source}: the Ultralytics model carries no architecture (yaml)")
        cfg = copy.deepcopy(dict(cfg))
        sd = record_state_dict(rec)
        if cfg.get("scales") and cfg.get("scale") not in cfg["scales"]:
            cfg["scale"] = infer_scale(cfg, sd) or next(iter(cfg["scales"]))
        stride = rec.attr("stride", None)
        strides = [float(s) for s in stride.tolist()] if isinstance(stride, torch.Tensor) else None
        channels = int(cfg.get("channels", 3))
        rtdetr = is_rtdetr_yaml(cfg)
        model = (
            RTDETRModel(cfg, ch=channels) if rtdetr else UltralyticsModel(cfg, ch=channels, stride=strides)
        )
        load_weights(model, sd, source)
        sync_from_record(model, rec, source)
        model.names = _names(rec.attr("names", None), model.nc)
        model.eval()
        describe = rtdetr_info if rtdetr else model_info
        info = describe(model, variant_name(cfg), _imgsz(train_args))  # type: ignore[arg-type]
        info.extra["ultralytics_version"] = ckpt.get("version")
        info.extra["model_class"] = rec.cls
        return LoadedModel(model=model, info=info)

    def _load_state_dict(
        self, ckpt: RawCheckpoint, arch: Optional[str], source: str, train_args: Mapping[str, Any]
    ) -> LoadedModel:
        """A bare state dict: the architecture must come from ``arch``; nc from the class convs."""
        if not arch:
            raise UnsupportedModelError(
                f"{source}: a bare state dict without the architecture; pass --arch (e.g. yolo11n)"
            )
        sd = ckpt.state_dict()
        cls_keys = sorted(k for k in sd if re.match(r"^model\.\d+\.cv3\.0\.2\.weight$", k))
        nc = int(sd[cls_keys[0]].shape[0]) if cls_keys else 80
        cfg = get_arch(arch, nc=nc)
        model = UltralyticsModel(cfg)
        load_weights(model, sd, source)
        model.eval()
        return LoadedModel(model=model, info=model_info(model, variant_name(cfg), _imgsz(train_args)))

    def use_branch(self, loaded: LoadedModel, one2one: bool) -> UltralyticsModel:
        model = loaded.model
        model.end2end = one2one  # Detect.forward then reads that branch; the other is dropped by reparam
        return model

    def build(self, arch: str, nc: int = 80) -> LoadedModel:
        cfg = get_arch(arch, nc=nc)
        model = UltralyticsModel(cfg).eval()
        return LoadedModel(model=model, info=model_info(model, variant_name(cfg)))


FAMILY = UltralyticsFamily()
FAMILIES.register("ultralytics")(FAMILY)
