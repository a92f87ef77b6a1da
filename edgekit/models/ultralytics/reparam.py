"""The Ultralytics reparameterization pipeline: what ``BaseModel.fuse()`` does, verified pass by pass.

Ultralytics' ``fuse()`` (``nn/tasks.py``) folds every ``Conv``/``DWConv`` BatchNorm, merges
``RepConv`` (3x3 + 1x1 + optional identity BN) and ``RepVGGDW`` (7x7 + 3x3 depth-wise) into one
conv each, and ``Detect.fuse`` removes the head branch the eval forward does not use (the
one-to-many branch of an NMS-free head in end-to-end mode, else the one-to-one branch). edgekit's
modules declare the first three themselves (``Conv.conv_bn_pairs``, ``RepConv.deploy_form``,
``RepVGGDW.deploy_form``); the head branch is dropped by :func:`unused_head_branch_pass`. The
deploy model has exactly the parameter count of the official fused model.
"""

from __future__ import annotations

from typing import List

from torch import nn

from edgekit.contract.model import ModelInfo
from edgekit.models.ultralytics.head import Detect
from edgekit.reparam.passes import DropModulesPass
from edgekit.reparam.pipeline import PIPELINES, Pipeline, ReparamOptions, standard_pipeline
from edgekit.reparam.protocol import PASSES, Pass


def unused_head_branches(model: nn.Module) -> List[str]:
    """Dotted paths of the ``Detect`` branches the eval forward does not use (``Detect.unused_branches``)."""
    return [
        f"{name}.{attr}" if name else attr
        for name, m in model.named_modules()
        if isinstance(m, Detect)
        for attr in m.unused_branches()
    ]


@PASSES.register("ultralytics_head_branch")
def unused_head_branch_pass() -> Pass:
    """Drop the head branch the forward does not read: one-to-many in end-to-end mode (Detect.fuse)."""
    return DropModulesPass(unused_head_branches, name="drop_unused_head_branch")


@PIPELINES.register("ultralytics")
def ultralytics_pipeline(info: ModelInfo, options: ReparamOptions) -> Pipeline:
    """Head branch drop (heads with both branches) -> RepConv/RepVGGDW -> Conv+BN fold -> head form."""
    structural = [unused_head_branch_pass()] if info.structures.one_to_many_head else []
    return standard_pipeline(info, options, structural=structural)
