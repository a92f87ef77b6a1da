"""RT-DETRv2's reparameterization: the decoder's training-only parts dropped (denoising embedding,
the other layers' score heads, the layers after the evaluation layer), RepVggBlocks fused
(``convert_to_deploy``), every Conv+BN folded (the input projections too), then the query head form."""

from __future__ import annotations

from typing import List

from torch import nn

from edgekit.contract.model import ModelInfo
from edgekit.models.rtdetrv2.decoder import RTDETRTransformerv2
from edgekit.reparam.passes import DropModulesPass
from edgekit.reparam.pipeline import PIPELINES, Pipeline, ReparamOptions, standard_pipeline


def train_only_parts(model: nn.Module) -> List[str]:
    """Dotted paths of what only RT-DETRv2's training reads."""
    return [
        f"{name}.{part}" if name else part
        for name, m in model.named_modules()
        if isinstance(m, RTDETRTransformerv2)
        for part in m.train_only_parts()
    ]


@PIPELINES.register("rtdetrv2")
def rtdetrv2_pipeline(info: ModelInfo, options: ReparamOptions) -> Pipeline:
    structural = (
        [DropModulesPass(train_only_parts, name="drop_train_only_head")]
        if info.structures.train_only_head
        else []
    )
    return standard_pipeline(info, options, structural=structural)
