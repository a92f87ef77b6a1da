"""The WongKinYiu YOLOv9 / GELAN family: recognise, rebuild and load official checkpoints.

An official checkpoint pickles the whole ``models.yolo.DetectionModel`` (FP16) under
``model`` and ``ema``; the model carries its architecture (``yaml``), ``names``,
``stride`` and ``nc``. edgekit rebuilds it from the ``yaml`` with its own modules and
loads the weights with ``strict=True``. A bare state dict is matched against the named
variants by key and shape (or taken as ``--arch``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

import torch

from edgekit.contract.model import HeadSpec, LoadedModel, ModelInfo, PreprocessSpec, TrainStructures
from edgekit.errors import InputFileError, UnsupportedModelError
from edgekit.models.base import FAMILIES, Family
from edgekit.models.yolov9.archs import ARCHS, VARIANTS, get_arch, layer_rows
from edgekit.models.yolov9.build import YoloV9Model, build_model
from edgekit.models.yolov9.heads import HEADS
from edgekit.models.yolov9.modules import Conv, RepConvN

if TYPE_CHECKING:
    from edgekit.loading.checkpoint import RawCheckpoint, Record

MODEL_CLASSES = ("models.yolo.DetectionModel", "models.yolo.Model")
_STRUCTURE_KEYS = ("depth_multiple", "width_multiple", "activation")


def _head_name(arch: Any) -> Optional[str]:
    try:
        return str(layer_rows(arch)[-1][2])
    except (KeyError, IndexError, TypeError):
        return None


def identify(arch: Mapping[str, Any]) -> Optional[str]:
    """The named variant whose layers equal ``arch``'s (``nc`` and ``ch`` ignored), else None."""
    rows = layer_rows(arch)
    for name, known in ARCHS.items():
        if layer_rows(known) == rows and all(known.get(k) == arch.get(k) for k in _STRUCTURE_KEYS):
            return name
    return None


def _last_layer(sd: Mapping[str, torch.Tensor]) -> Optional[int]:
    layers = [int(k.split(".")[1]) for k in sd if k.startswith("model.") and k.split(".")[1].isdigit()]
    return max(layers) if layers else None


@lru_cache(maxsize=None)
def _signature(name: str, nc: int) -> Tuple[Tuple[str, Tuple[int, ...]], ...]:
    with torch.device("meta"):
        sd = build_model(ARCHS[name], nc=nc).state_dict()
    return tuple((k, tuple(v.shape)) for k, v in sd.items())


def _cheap_mismatch(arch: Mapping[str, Any], sd: Mapping[str, torch.Tensor], last: int) -> bool:
    """Layer count or stem width differ: no need to build the variant to compare."""
    rows = layer_rows(arch)
    if len(rows) != last + 1:
        return True
    stem = next(i for i, row in enumerate(rows) if row[2] == "Conv")
    weight = sd.get(f"model.{stem}.conv.weight")
    return weight is None or weight.shape[0] != rows[stem][3][0]


def match_state_dict(sd: Mapping[str, torch.Tensor]) -> Optional[str]:
    """The named variant whose keys and shapes equal a bare state dict's, else None."""
    last = _last_layer(sd)
    cls = sd.get(f"model.{last}.cv3.0.2.weight")
    if cls is None or cls.dim() != 4:
        return None
    sig = tuple((k, tuple(v.shape)) for k, v in sd.items())
    for name in VARIANTS:
        if _cheap_mismatch(ARCHS[name], sd, last):
            continue
        if _signature(name, int(cls.shape[0])) == sig:
            return name
    return None


def _names(raw: Any, nc: int) -> List[str]:
    if isinstance(raw, Mapping):
        return [str(raw[k]) for k in sorted(raw)]
    if isinstance(raw, (list, tuple)) and raw:
        return [str(n) for n in raw]
    return [str(i) for i in range(nc)]


def _imgsz(ckpt: RawCheckpoint) -> Optional[Tuple[int, int]]:
    opt = ckpt.get("opt")
    size = opt.get("imgsz", opt.get("img_size")) if isinstance(opt, Mapping) else None
    if isinstance(size, (list, tuple)) and size:
        size = size[0]
    return (int(size), int(size)) if isinstance(size, int) and size > 0 else None


def _apply_bn_eps(model: YoloV9Model, rec: Record) -> None:
    """Use the eps stored with each pickled BatchNorm2d (the official build sets 1e-3)."""
    from edgekit.loading.checkpoint import iter_records

    for name, node in iter_records(rec):
        if node.cls.endswith("BatchNorm2d"):
            eps = node.attr("eps", None)
            if isinstance(eps, float):
                model.get_submodule(name).eps = eps


def structures(model: YoloV9Model) -> TrainStructures:
    """What the reparameterization will remove or fuse in ``model``."""
    reps = [m for m in model.modules() if isinstance(m, RepConvN)]
    inside = {id(c) for r in reps for c in (r.conv1, r.conv2)}
    convs = [m for m in model.modules() if isinstance(m, Conv) and id(m) not in inside]
    return TrainStructures(pgi_branch=model.pgi, rep_branches=len(reps), conv_bn=len(convs), dfl=True)


class YoloV9Family(Family):
    """WongKinYiu YOLOv9 (train-time, PGI) and GELAN (converted / inference) checkpoints."""

    name = "yolov9"
    variants = VARIANTS

    def score(self, ckpt: RawCheckpoint) -> float:
        try:
            picked = ckpt.pick_model()
        except InputFileError:
            return 0.0
        if isinstance(picked, Mapping):
            return 0.6 if match_state_dict(picked) else 0.0
        if picked.cls not in MODEL_CLASSES:
            return 0.0
        return 1.0 if _head_name(picked.attr("yaml", None)) in HEADS else 0.3

    def load(self, ckpt: RawCheckpoint, arch: Optional[str] = None) -> LoadedModel:
        picked = ckpt.pick_model()
        rec = picked if not isinstance(picked, Mapping) else None
        sd = ckpt.state_dict()
        yaml = rec.attr("yaml", None) if rec is not None else None
        if yaml is None:
            arch = arch or match_state_dict(sd)
            if arch is None:
                raise UnsupportedModelError(
                    f"{ckpt.path}: a YOLOv9 state dict without its architecture; pass --arch "
                    f"(one of {', '.join(VARIANTS)})"
                )
            yaml = self._arch(arch)
            yaml["nc"] = int(sd[f"model.{_last_layer(sd)}.cv3.0.2.weight"].shape[0])
        if not isinstance(yaml, Mapping) or _head_name(yaml) not in HEADS:
            raise UnsupportedModelError(
                f"{ckpt.path}: YOLOv9 model with head '{_head_name(yaml)}' is not supported "
                f"(supported: {', '.join(HEADS)})"
            )
        found = identify(yaml)
        if arch and found and found != arch:
            raise UnsupportedModelError(f"{ckpt.path}: --arch {arch}, but the checkpoint holds a {found}")
        model = build_model(dict(yaml))
        if rec is not None:
            _apply_bn_eps(model, rec)
        missing, unexpected = _key_diff(model, sd)
        if missing or unexpected:
            raise UnsupportedModelError(
                f"{ckpt.path}: weights do not fit the architecture (missing {missing[:3]}, "
                f"unexpected {unexpected[:3]})"
            )
        model.load_state_dict(sd, strict=True)
        stride = rec.attr("stride", None) if rec is not None else None
        if isinstance(stride, torch.Tensor) and stride.numel() == model.head.nl:
            model.head.stride = stride.detach().float().clone()
            model.stride = model.head.stride
        names = _names(rec.attr("names", None) if rec is not None else None, model.nc)
        model.names = names
        variant = arch or found or f"{'yolov9' if model.pgi else 'gelan'}-custom"
        return LoadedModel(model.eval(), self._info(model, variant, names, _imgsz(ckpt)))

    def build(self, arch: str, nc: int = 80) -> LoadedModel:
        model = build_model(self._arch(arch), nc=nc)
        return LoadedModel(model.eval(), self._info(model, arch, list(model.names), None))

    @staticmethod
    def _arch(arch: str) -> Dict[str, Any]:
        if arch not in ARCHS:
            raise UnsupportedModelError(
                f"unknown YOLOv9 architecture '{arch}' (known: {', '.join(VARIANTS)})"
            )
        return get_arch(arch)

    def _info(
        self, model: YoloV9Model, variant: str, names: List[str], imgsz: Optional[Tuple[int, int]]
    ) -> ModelInfo:
        strides = tuple(int(round(float(s))) for s in model.head.stride)
        return ModelInfo(
            family=self.name,
            variant=variant,
            names=names,
            head=HeadSpec(strides=strides, bins=model.head.reg_max, anchor_offset=0.5, nc=len(names)),
            preprocess=PreprocessSpec(resize="letterbox", pad_value=114, color="RGB", scale=1.0 / 255.0),
            imgsz=imgsz or (640, 640),
            imgsz_recorded=imgsz is not None,
            structures=structures(model),
            extra={
                "yaml": model.yaml,
                "head": type(model.head).__name__,
                "main_layers": sorted(model._ek_main_layers),
            },
        )


def _key_diff(model: torch.nn.Module, sd: Mapping[str, torch.Tensor]) -> Tuple[List[str], List[str]]:
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    wrong = [
        f"{k} {tuple(sd[k].shape)}!={tuple(v.shape)}"
        for k, v in own.items()
        if k in sd and sd[k].shape != v.shape
    ]
    return missing + wrong, unexpected


FAMILY = YoloV9Family()
FAMILIES.register(FAMILY.name)(FAMILY)
