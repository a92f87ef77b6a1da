"""RT-DETRv2 architectures: the official configs by name, and inference from a state dict's shapes.

The names are the config files of ``rtdetrv2_pytorch/configs/rtdetrv2`` (without ``.yml``) plus
short aliases (``r18vd``). A state dict fixes almost everything (depth, widths, layers, points per
level, heads); what it cannot show, the query count, the evaluation layer and the sampling method,
takes the official defaults (300, the last layer, ``default``) unless ``--arch`` names a config.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

import torch

from edgekit.errors import UnsupportedModelError
from edgekit.models.rtdetrv2.presnet import DEPTHS


@dataclass(frozen=True)
class V2Arch:
    name: str
    depth: int = 50
    num_stages: int = 4
    return_idx: Tuple[int, ...] = (1, 2, 3)  # the backbone stages the encoder reads
    use_encoder_idx: Tuple[int, ...] = (2,)  # the levels the transformer encoder runs on
    hidden_dim: int = 256  # the encoder's width (the decoder's input channels)
    dec_hidden_dim: int = 256  # the decoder's own width (r101vd: 384 in, 256 inside)
    expansion: float = 1.0
    depth_mult: float = 1.0
    enc_nhead: int = 8
    enc_ffn: int = 1024
    enc_layers: int = 1
    dec_layers: int = 6
    dec_nhead: int = 8
    dec_ffn: int = 1024
    num_points: Tuple[int, ...] = (4, 4, 4)
    num_queries: int = 300
    eval_idx: int = -1
    cross_attn_method: str = "default"
    query_select_method: str = "default"

    def with_(self, **changes: Any) -> V2Arch:
        return dataclasses.replace(self, **changes)


_R50 = V2Arch("rtdetrv2_r50vd_6x_coco")
ARCHS: Dict[str, V2Arch] = {
    a.name: a
    for a in (
        _R50.with_(name="rtdetrv2_r18vd_120e_coco", depth=18, expansion=0.5, dec_layers=3),
        _R50.with_(name="rtdetrv2_r34vd_120e_coco", depth=34, expansion=0.5, dec_layers=4),
        _R50.with_(name="rtdetrv2_r50vd_m_7x_coco", expansion=0.5, eval_idx=2),
        _R50,
        _R50.with_(name="rtdetrv2_r101vd_6x_coco", depth=101, hidden_dim=384, enc_ffn=2048),
        _R50.with_(
            name="rtdetrv2_r18vd_dsp_3x_coco",
            depth=18,
            expansion=0.5,
            dec_layers=3,
            cross_attn_method="discrete",
        ),
        _R50.with_(
            name="rtdetrv2_r34vd_dsp_1x_coco",
            depth=34,
            expansion=0.5,
            dec_layers=4,
            cross_attn_method="discrete",
        ),
        _R50.with_(name="rtdetrv2_r50vd_dsp_1x_coco", cross_attn_method="discrete"),
        _R50.with_(
            name="rtdetrv2_r50vd_m_dsp_3x_coco", expansion=0.5, eval_idx=2, cross_attn_method="discrete"
        ),
    )
}
ALIASES = {
    "r18vd": "rtdetrv2_r18vd_120e_coco",
    "r34vd": "rtdetrv2_r34vd_120e_coco",
    "r50vd": "rtdetrv2_r50vd_6x_coco",
}
ALIASES.update({"r50vd_m": "rtdetrv2_r50vd_m_7x_coco", "r101vd": "rtdetrv2_r101vd_6x_coco"})


#: what ``--arch NAME:key=value,...`` may set (the facts a state dict cannot show)
OVERRIDES = {"num_queries": int, "eval_idx": int, "enc_nhead": int, "cross_attn_method": str}


def get_arch(name: str) -> V2Arch:
    """A config by name or alias, with optional overrides: ``r18vd:num_queries=100,eval_idx=2``."""
    base, _, extra = name.partition(":")
    key = ALIASES.get(base.lower(), base.lower().removesuffix(".yml"))
    if key not in ARCHS:
        raise KeyError(f"unknown RT-DETRv2 config '{base}' (known: {', '.join([*ALIASES, *ARCHS])})")
    changes: Dict[str, Any] = {}
    for item in filter(None, extra.split(",")):
        field, _, value = item.partition("=")
        if field not in OVERRIDES or not value:
            raise KeyError(
                f"--arch {name}: '{item}' is not one of {', '.join(f'{k}=...' for k in OVERRIDES)}"
            )
        try:
            changes[field] = OVERRIDES[field](value)
        except ValueError:
            raise KeyError(
                f"--arch {name}: {field} must be {OVERRIDES[field].__name__}, got '{value}'"
            ) from None
    if changes.get("cross_attn_method", "default") not in ("default", "discrete"):
        raise KeyError(f"--arch {name}: cross_attn_method is 'default' or 'discrete'")
    return ARCHS[key].with_(**changes)


def _count(sd: Mapping[str, torch.Tensor], prefix: str) -> int:
    """How many ``prefix<i>.`` entries the state dict has."""
    found = {int(k[len(prefix) :].split(".")[0]) for k in sd if k.startswith(prefix)}
    return max(found) + 1 if found else 0


def _points(sd: Mapping[str, torch.Tensor]) -> Tuple[int, ...]:
    """Points per level from the stored ``num_points_scale`` (1/n repeated n times per level)."""
    scale = sd["decoder.decoder.layers.0.cross_attn.num_points_scale"].float().tolist()
    points, i = [], 0
    while i < len(scale):
        n = int(round(1.0 / scale[i]))
        points.append(n)
        i += n
    return tuple(points)


def _neck(sd: Mapping[str, torch.Tensor], hidden: int, base: V2Arch) -> Dict[str, float]:
    """The CSPRepLayers' expansion and depth multiple (a one-level encoder has none: ``base``'s)."""
    conv1 = sd.get("encoder.fpn_blocks.0.conv1.conv.weight")
    if conv1 is None:
        return {"expansion": base.expansion, "depth_mult": base.depth_mult}
    return {
        "expansion": conv1.shape[0] / hidden,
        "depth_mult": _count(sd, "encoder.fpn_blocks.0.bottlenecks.") / 3,
    }


def infer_arch(sd: Mapping[str, torch.Tensor], base: Optional[V2Arch] = None) -> V2Arch:
    """The architecture whose tensors the state dict holds (``base``: a named config's non-shape facts)."""
    try:
        stages = _count(sd, "backbone.res_layers.")
        blocks = tuple(_count(sd, f"backbone.res_layers.{i}.blocks.") for i in range(stages))
        bottleneck = "backbone.res_layers.0.blocks.0.branch2c.conv.weight" in sd
        depth = next(d for d, n in DEPTHS.items() if n[:stages] == blocks and (d >= 50) == bottleneck)
        hidden = int(sd["encoder.input_proj.0.conv.weight"].shape[0])
        levels = _count(sd, "encoder.input_proj.")
        encoders = _count(sd, "encoder.encoder.")
        points = _points(sd)
        offsets = int(sd["decoder.decoder.layers.0.cross_attn.sampling_offsets.weight"].shape[0])
        shapes = {
            "num_stages": stages,
            "return_idx": tuple(range(stages - levels, stages)),
            "use_encoder_idx": tuple(range(levels - encoders, levels)),
            **_neck(sd, hidden, base or ARCHS["rtdetrv2_r50vd_6x_coco"]),
            "enc_ffn": int(sd["encoder.encoder.0.layers.0.linear1.weight"].shape[0]),
            "enc_layers": _count(sd, "encoder.encoder.0.layers."),
            "dec_layers": _count(sd, "decoder.decoder.layers."),
            "dec_nhead": offsets // (2 * sum(points)),
            "dec_ffn": int(sd["decoder.decoder.layers.0.linear1.weight"].shape[0]),
        }
    except (KeyError, StopIteration) as exc:
        raise UnsupportedModelError(f"not an RT-DETRv2 state dict (no {exc})") from None
    agnostic = int(sd["decoder.enc_score_head.weight"].shape[0]) == 1
    dec_hidden = int(sd["decoder.input_proj.0.conv.weight"].shape[0])
    if base is None:  # r50vd_m (depth 50, expansion 0.5: its configs only) evaluates at layer 3
        medium = depth == 50 and shapes["expansion"] == 0.5
        base = ARCHS["rtdetrv2_r50vd_m_7x_coco" if medium else "rtdetrv2_r50vd_6x_coco"]
    spec = base.with_(depth=depth, hidden_dim=hidden, dec_hidden_dim=dec_hidden, num_points=points, **shapes)
    return spec.with_(query_select_method="agnostic") if agnostic else spec
