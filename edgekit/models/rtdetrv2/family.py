"""RT-DETRv2 (lyuwenyu/RT-DETR ``rtdetrv2_pytorch``, Apache-2.0) as an edgekit family.

An official checkpoint is the solver's state: ``{"ema": {"module": state_dict, "updates"}, "model":
state_dict, "last_epoch", "date", "optimizer", ...}`` (the EMA weights are what the official
tools deploy), or a bare ``{"model": state_dict}``. It carries no config: the architecture is read
from the tensors' shapes (``arch.infer_arch``), with ``--arch CONFIG`` for what shapes cannot show
(query count, evaluation layer, sampling method: e.g. ``rtdetrv2_r50vd_m_7x_coco`` evaluates at
its third layer). A checkpoint trained with ``eval_spatial_size`` stores that size's anchors,
which give the training size.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Tuple, Union

import torch

from edgekit.contract.model import HeadSpec, LoadedModel, ModelInfo, PreprocessSpec, TrainStructures
from edgekit.errors import UnsupportedModelError
from edgekit.models.base import FAMILIES, Family, load_weights
from edgekit.models.rtdetrv2.arch import ALIASES, ARCHS, V2Arch, get_arch, infer_arch
from edgekit.models.rtdetrv2.encoder import RepVggBlock
from edgekit.models.rtdetrv2.model import RTDETRv2

if TYPE_CHECKING:
    from edgekit.loading.checkpoint import RawCheckpoint

MAX_DET = 300  # RTDETRPostProcessor's num_top_queries
_KEYS = (
    "decoder.dec_score_head.0.weight",
    "encoder.input_proj.0.conv.weight",
    "backbone.conv1.conv1_1.conv.weight",
)
COMPUTED = ("decoder.anchors", "decoder.valid_mask")  # eval_spatial_size buffers: edgekit computes them


def find_state_dict(obj: Any) -> Optional[Dict[str, torch.Tensor]]:
    """The EMA weights (``obj['ema']['module']``) of a solver checkpoint, else ``obj['model']``."""
    if not isinstance(obj, Mapping):
        return None
    ema = obj.get("ema")
    sd = ema.get("module") if isinstance(ema, Mapping) else None
    sd = sd if isinstance(sd, Mapping) else obj.get("model")
    if not isinstance(sd, Mapping):
        return None
    return {k: v for k, v in sd.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}


def trained_size(sd: Mapping[str, torch.Tensor]) -> Optional[Tuple[int, int]]:
    """The square ``eval_spatial_size`` whose anchors (strides 8, 16, 32) the checkpoint stores."""
    anchors = sd.get("decoder.anchors")
    if anchors is None:
        return None
    side = math.sqrt(anchors.shape[1] / (1 / 64 + 1 / 256 + 1 / 1024))
    return (round(side), round(side)) if abs(side - round(side)) < 1e-6 else None


def train_structures(model: RTDETRv2) -> TrainStructures:
    reps = [m for m in model.modules() if isinstance(m, RepVggBlock)]
    pairs = sum(1 for m in model.modules() if hasattr(m, "conv_bn_pairs"))
    projections = len(model.encoder.input_proj) + len(model.decoder.input_proj)
    return TrainStructures(
        rep_branches=len(reps),
        conv_bn=pairs - 2 * len(reps) + projections,
        train_only_head=len(model.decoder.train_only_parts()),
    )


def model_info(model: RTDETRv2, variant: str, imgsz: Optional[Tuple[int, int]] = None) -> ModelInfo:
    head = HeadSpec(
        strides=(model.stride,),
        bins=1,
        end2end=True,
        max_det=MAX_DET,
        nc=model.nc,
        queries=model.arch.num_queries,
    )
    return ModelInfo(
        family="rtdetrv2",
        variant=variant,
        names=list(model.names),
        head=head,
        preprocess=PreprocessSpec(resize="stretch", pad_value=0, color="RGB", scale=1.0 / 255.0),
        imgsz=imgsz or (640, 640),
        imgsz_recorded=imgsz is not None,
        structures=train_structures(model),
        extra={"arch": model.arch.name, "eval_idx": model.decoder.decoder.eval_idx},
    )


class RTDETRv2Family(Family):
    """RT-DETRv2 with ResNet-vd backbones (r18vd / r34vd / r50vd / r50vd_m / r101vd, and ``dsp``)."""

    name = "rtdetrv2"
    variants = (*ALIASES, *ARCHS)

    def score(self, ckpt: RawCheckpoint) -> float:
        sd = find_state_dict(ckpt.obj)
        if not sd or not all(k in sd for k in _KEYS):
            return 0.0
        return 1.0 if "decoder.decoder.layers.0.cross_attn.num_points_scale" in sd else 0.6

    def load(self, ckpt: RawCheckpoint, arch: Optional[Union[str, V2Arch]] = None) -> LoadedModel:
        """``arch``: a config name (or alias), or a ``V2Arch`` whose non-shape facts (query count,
        evaluation layer, sampling method) apply; the shapes always come from the weights."""
        source = Path(ckpt.path).name
        sd = find_state_dict(ckpt.obj)
        if not sd or not all(k in sd for k in _KEYS):
            raise UnsupportedModelError(
                f"{source}: no RT-DETRv2 weights (expected 'ema' or 'model' with decoder.*)"
            )
        try:
            base = get_arch(arch) if isinstance(arch, str) else arch
        except KeyError as exc:
            raise UnsupportedModelError(f"{source}: {exc.args[0]}") from None
        try:
            spec = infer_arch(sd, base)
        except UnsupportedModelError as exc:
            raise UnsupportedModelError(f"{source}: {exc}") from None
        _check(spec, source)
        weights = {k: v.float() for k, v in sd.items() if k not in COMPUTED}
        nc = int(weights["decoder.dec_score_head.0.weight"].shape[0])
        model = RTDETRv2(spec, nc, denoising="decoder.denoising_class_embed.weight" in weights)
        _load(model, weights, source)
        model.eval()
        medium = spec.name == "rtdetrv2_r50vd_m_7x_coco"  # inferred: depth 50 with expansion 0.5
        variant = spec.name if base else ("rtdetrv2-r50vd_m" if medium else f"rtdetrv2-r{spec.depth}vd")
        info = model_info(model, variant, trained_size(sd))
        info.source = source
        info.extra["epoch"] = ckpt.get("last_epoch") if isinstance(ckpt.obj, Mapping) else None
        return LoadedModel(model, info)

    def build(self, arch: str, nc: int = 80) -> LoadedModel:
        spec = get_arch(arch)
        model = RTDETRv2(spec, nc).eval()
        return LoadedModel(model, model_info(model, spec.name))


def _check(spec: V2Arch, source: str) -> None:
    """``--arch`` overrides that no model could have, refused in one line."""
    problems = [
        (spec.num_queries < 1, f"num_queries={spec.num_queries} (at least 1)"),
        (
            not -spec.dec_layers <= spec.eval_idx < spec.dec_layers,
            f"eval_idx={spec.eval_idx} ({spec.dec_layers} layers)",
        ),
        (
            spec.hidden_dim % spec.enc_nhead != 0,
            f"enc_nhead={spec.enc_nhead} does not divide {spec.hidden_dim}",
        ),
    ]
    bad = [text for wrong, text in problems if wrong]
    if bad:
        raise UnsupportedModelError(f"{source}: --arch {spec.name}: {'; '.join(bad)}")


def _load(model: RTDETRv2, sd: Mapping[str, torch.Tensor], source: str) -> None:
    frozen = {
        k: v for k, v in model.state_dict().items() if k.endswith(".num_batches_tracked") and k not in sd
    }
    # FrozenBatchNorm2d (freeze_norm) has no step counter; eval never reads it
    load_weights(model, {**sd, **frozen}, source, model.arch.name)


FAMILY = RTDETRv2Family()
FAMILIES.register("rtdetrv2")(FAMILY)
