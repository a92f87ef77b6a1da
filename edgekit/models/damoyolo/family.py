"""DAMO-YOLO as an edgekit family: recognise, rebuild and load official checkpoints."""

from __future__ import annotations

import logging
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Tuple, Union

import torch
from torch import nn

from edgekit.contract.model import HeadSpec, LoadedModel, ModelInfo, PreprocessSpec, TrainStructures
from edgekit.errors import UnsupportedModelError
from edgekit.models.base import FAMILIES, Family
from edgekit.models.damoyolo.archs import ARCHS, DamoArch, get_arch
from edgekit.models.damoyolo.infer import ASSUMED, infer_res_arch
from edgekit.models.damoyolo.model import DamoYolo, build_model
from edgekit.models.damoyolo.names import default_names
from edgekit.models.damoyolo.ops import RepConv, modules_of

if TYPE_CHECKING:
    from edgekit.loading.checkpoint import RawCheckpoint

_CLS = "head.gfl_cls.{}.weight"
log = logging.getLogger(__name__)


def find_state_dict(obj: Any) -> Optional[Dict[str, torch.Tensor]]:
    """The model weights of an official checkpoint object: ``obj['model']`` or a bare state dict."""
    if isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not obj:
        return None
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        return None
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module.") :]: v for k, v in tensors.items()}
    return tensors


def _fp32(sd: Mapping[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    return OrderedDict((k, v.float() if v.is_floating_point() else v) for k, v in sd.items())


Signature = Tuple[Tuple[str, Tuple[int, ...]], ...]


def _arch_signature(arch: DamoArch) -> Signature:
    """Key -> shape of a model of ``arch``, class convs left out (they depend on nc)."""
    with torch.device("meta"):
        sd = DamoYolo(arch, nc=1).state_dict()
    return tuple(sorted((k, tuple(v.shape)) for k, v in sd.items() if not k.startswith("head.gfl_cls.")))


@lru_cache(maxsize=None)
def _signature(name: str) -> Signature:
    return _arch_signature(ARCHS[name])


_STEM = {
    "res": "backbone.block_list.0.conv.conv.weight",  # Focus
    "csp": "backbone.csp_stage.0.conv.conv.weight",  # Focus
    "mob": "backbone.block_list.0.conv.conv1.weight",  # stride-2 ConvKXBNRELU
}


def _candidates(sd: Mapping[str, torch.Tensor]) -> Tuple[str, ...]:
    """Known variants with the checkpoint's backbone kind and stem width (cheap pre-filter)."""
    out = []
    for name, arch in ARCHS.items():
        stem = sd.get(_STEM[arch.backbone])
        if stem is not None and stem.dim() == 4 and stem.shape[0] == arch.stem_out:
            out.append(name)
    return tuple(out)


def infer_arch(sd: Mapping[str, torch.Tensor], source: str = "checkpoint") -> DamoArch:
    """Match the tensor shapes against every known variant; exactly one must fit."""
    sig = tuple(sorted((k, tuple(v.shape)) for k, v in sd.items() if not k.startswith("head.gfl_cls.")))
    hits = [name for name in _candidates(sd) if _signature(name) == sig]
    if len(hits) == 1:
        return ARCHS[hits[0]]
    known = ", ".join(sorted(ARCHS))
    if hits:
        raise UnsupportedModelError(
            f"{source}: the DAMO-YOLO variant is ambiguous ({', '.join(hits)}); pass --arch"
        )
    custom = infer_res_arch(sd)
    if custom is not None and _arch_signature(custom) == sig:
        log.warning(
            "%s: a custom TinyNAS_res DAMO-YOLO; structure read from the weights, assuming %s",
            source,
            ASSUMED,
        )
        return custom
    raise UnsupportedModelError(
        f"{source}: DAMO-YOLO weights that match none of the known variants ({known}) nor a TinyNAS_res "
        "structure readable from the weights; pass --arch with the variant it was trained as"
    )


def train_structures(model: DamoYolo, distillation_leftovers: bool = False) -> TrainStructures:
    """Counts of what reparameterization will fuse (every BatchNorm here follows a conv)."""
    rep = len(modules_of(model, [RepConv]))
    bns = len(modules_of(model, [nn.BatchNorm2d]))
    return TrainStructures(
        rep_branches=rep,
        conv_bn=bns - 2 * rep,  # Conv+BN pairs outside RepConv branches
        dfl=True,
        distillation_leftovers=distillation_leftovers,
        scale_modules=len(model.head.scales),
    )


def model_info(model: DamoYolo, variant: str, **kw: Any) -> ModelInfo:
    arch, nc = model.arch, model.head.nc
    return ModelInfo(
        family="damoyolo",
        variant=variant,
        names=default_names(nc),
        head=HeadSpec(strides=arch.strides, bins=arch.reg_max + 1, anchor_offset=0.0, nc=nc),
        preprocess=PreprocessSpec(resize="stretch", pad_value=0, color="RGB", scale=1.0),
        imgsz=(arch.imgsz, arch.imgsz),
        **kw,
    )


class DamoYoloFamily(Family):
    """DAMO-YOLO T/S/M/L and Nano Ns/Nm/Nl (TinyNAS + GiraffeNeckV2 + ZeroHead)."""

    name = "damoyolo"
    variants = tuple(ARCHS)

    def score(self, ckpt: RawCheckpoint) -> float:
        sd = find_state_dict(ckpt.obj)
        if sd is None or _CLS.format(0) not in sd or "head.gfl_reg.0.weight" not in sd:
            return 0.0
        score = 0.6
        if "head.scales.0.scale" in sd and "head.integral.project" in sd:
            score += 0.2
        if any(k.startswith(("backbone.block_list.", "backbone.csp_stage.")) for k in sd):
            score += 0.1
        if any(k.startswith("neck.merge_") for k in sd):
            score += 0.1
        return round(score, 3)

    def load(self, ckpt: RawCheckpoint, arch: Optional[Union[str, DamoArch]] = None) -> LoadedModel:
        """Rebuild with edgekit's modules and load strictly; ``arch`` is a name or a ``DamoArch``."""
        source = str(ckpt.path)
        sd = find_state_dict(ckpt.obj)
        if sd is None or _CLS.format(0) not in sd:
            raise UnsupportedModelError(
                f"{source}: no DAMO-YOLO weights (expected 'model' with head.gfl_cls.*)"
            )
        if arch is None:
            spec = infer_arch(sd, source)
        elif isinstance(arch, DamoArch):
            spec = arch
        else:
            try:
                spec = get_arch(arch)
            except KeyError as e:
                raise UnsupportedModelError(f"{source}: {e.args[0]}") from None
        cls_out = int(sd[_CLS.format(0)].shape[0])
        # Legacy heads have one spare class channel; 81 outputs are read as legacy COCO.
        legacy = spec.legacy or cls_out == 81
        spec = spec.with_(legacy=legacy)
        model = build_model(spec, nc=cls_out - int(legacy))
        try:
            model.load_state_dict(_fp32(sd), strict=True)
        except RuntimeError as e:
            first = str(e).strip().splitlines()
            detail = " ".join(line.strip() for line in first[:3])
            raise UnsupportedModelError(f"{source}: weights do not fit {spec.name}: {detail[:400]}") from None
        model.eval()
        obj = ckpt.obj if isinstance(ckpt.obj, Mapping) else {}
        leftovers = bool(obj.get("feature_loss"))
        info = model_info(
            model,
            spec.name,
            structures=train_structures(model, leftovers),
            source=Path(source).name,
            source_sha256=getattr(ckpt, "sha256", None),
            extra={"arch": spec.name, "legacy_head": legacy, "epoch": obj.get("epoch"), **spec.extra},
        )
        return LoadedModel(model, info)

    def build(self, arch: str, nc: int = 80) -> LoadedModel:
        spec = get_arch(arch)
        model = build_model(spec, nc).eval()
        info = model_info(model, spec.name, structures=train_structures(model), extra={"arch": spec.name})
        return LoadedModel(model, info)


FAMILY = DamoYoloFamily()
FAMILIES.register("damoyolo")(FAMILY)
