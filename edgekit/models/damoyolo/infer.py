"""Rebuild a custom TinyNAS_res DAMO-YOLO structure from its weights alone.

An official DAMO-YOLO checkpoint holds a state dict and no configuration. Models trained
from the T/S configs with other TinyNAS structure lists or neck widths (a common way to
make a smaller DAMO-YOLO) match none of the known variants. For the ``TinyNAS_res``
backbone everything but two facts can be read from the tensor shapes: widths,
bottlenecks, block counts, kernel sizes, the SPP, the neck depth and hidden ratio, the
head's bins and kernel. The two that cannot are taken from the official T/S configs and
reported as assumptions: ReLU activations, and stage strides 2, 2, 2, 1, 2 (checked
against which blocks carry a residual projection). The inferred structure is accepted
only when a model built from it has exactly the checkpoint's keys and shapes.
"""

from __future__ import annotations

from typing import List, Mapping, Optional, Tuple

import torch

from edgekit.models.damoyolo.archs import ARCHS, DamoArch, Stage

CUSTOM = "damoyolo-custom"
RES_STRIDES = (2, 2, 2, 1, 2)  # every official TinyNAS_res structure (T, S)
ASSUMED = "ReLU activations and stage strides 2,2,2,1,2, as the official TinyNAS_res configs (T, S)"
_BLOCK = "backbone.block_list.{}.block_list.{}."


def _shape(sd: Mapping[str, torch.Tensor], key: str) -> Optional[Tuple[int, ...]]:
    v = sd.get(key)
    return tuple(v.shape) if isinstance(v, torch.Tensor) else None


def _stage(sd: Mapping[str, torch.Tensor], i: int, stride: int) -> Optional[Tuple[Stage, bool]]:
    """Stage ``i`` (1-based in ``block_list``) and whether it holds the SPP bottleneck."""
    first = _shape(sd, _BLOCK.format(i, 0) + "conv1.conv1.weight")
    dense = _shape(sd, _BLOCK.format(i, 0) + "conv2.rbr_dense.conv.weight")
    if first is None or dense is None or len(first) != 4 or len(dense) != 4:
        return None
    btn, cin, k1 = first[0], first[1], first[2]
    cout, k = dense[0], dense[2]
    proj = _shape(sd, _BLOCK.format(i, 0) + "residual_proj.conv1.weight") is not None
    if (cin != cout and stride != 2) != proj:
        return None  # the strides assumed do not fit the block's residual path
    spp = _shape(sd, _BLOCK.format(i, 1) + "conv1.conv.weight") is not None
    j, blocks = (2 if spp else 1), 1
    while _shape(sd, _BLOCK.format(i, j) + "conv1.conv1.weight") is not None:
        blocks, j = blocks + 1, j + 1
    kind = "k1kx" if k1 == 1 else "kxkx"
    return Stage(cin, cout, btn, stride, blocks, kind, k), spp


def _hidden_ratio(sd: Mapping[str, torch.Tensor], mid: int) -> Optional[float]:
    hidden = _shape(sd, "neck.merge_3.convs.0.conv2.rbr_dense.conv.weight")
    if hidden is None or mid <= 0:
        return None
    return hidden[0] / mid + 1e-9  # int(mid * ratio) must give back hidden, not hidden - 1


def infer_res_arch(sd: Mapping[str, torch.Tensor]) -> Optional[DamoArch]:
    """The ``TinyNAS_res`` structure the weights describe, or None when they are not one."""
    stem = _shape(sd, "backbone.block_list.0.conv.conv.weight")
    reg = _shape(sd, "head.gfl_reg.0.weight")
    if stem is None or reg is None or len(stem) != 4 or stem[1] not in (3, 12):
        return None
    stages: List[Stage] = []
    spp_at: List[int] = []
    for i, stride in enumerate(RES_STRIDES, start=1):
        found = _stage(sd, i, stride)
        if found is None:
            return None
        stages.append(found[0])
        if found[1]:
            spp_at.append(i)
    if spp_at not in ([], [len(RES_STRIDES)]):
        return None
    merge_blocks = sum(
        1 for k in sd if k.startswith("neck.merge_3.convs.") and k.endswith(".conv1.conv.weight")
    )
    c2 = stages[4].cout
    ratio = _hidden_ratio(sd, c2 - c2 // 2)
    outs = [_shape(sd, f"head.gfl_reg.{i}.weight") for i in range(3)]
    if not merge_blocks or ratio is None or any(o is None for o in outs):
        return None
    base = ARCHS["damoyolo-t"]
    return base.with_(
        name=CUSTOM,
        stem_out=stem[0],
        stem_k=stem[2],
        use_focus=stem[1] == 12,
        stages=tuple(stages),
        neck_in=(stages[1].cout, stages[3].cout, stages[4].cout),
        neck_out=tuple(o[1] for o in outs),  # type: ignore[index]
        neck_depth=merge_blocks / 3,
        neck_hidden_ratio=ratio,
        with_spp=bool(spp_at),
        reg_max=reg[0] // 4 - 1,
        head_kernel=reg[2],
        extra={"structure": "inferred from the weights", "assumed": ASSUMED},
    )
