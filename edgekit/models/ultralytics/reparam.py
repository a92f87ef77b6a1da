"""The Ultralytics reparameterization pipeline: what ``BaseModel.fuse()`` does, verified pass by pass.

Ultralytics' ``fuse()`` (``nn/tasks.py``) folds every ``Conv``/``DWConv`` BatchNorm, merges
``RepConv`` (3x3 + 1x1 + optional identity BN) and ``RepVGGDW`` (7x7 + 3x3 depth-wise) into one
conv each, and ``Detect.fuse`` removes the head branch the eval forward does not use (the
one-to-many branch of an NMS-free head in end-to-end mode, else the one-to-one branch), with the
task branches (``cv4``...) of segment / pose / OBB heads; their training-only parts (Pose26's flow
model and sigma convs, Proto26's semantic branch) go too. edgekit's modules declare the first
three themselves (``Conv.conv_bn_pairs``, ``RepConv.deploy_form``, ``RepVGGDW.deploy_form``); the
head branch is dropped by :func:`unused_head_branch_pass`, the training-only parts by
:func:`train_only_head_pass`. The deploy model has exactly the parameter count of the official
fused model.
"""

from __future__ import annotations

from typing import Callable, List

from torch import nn

from edgekit.contract.model import ModelInfo
from edgekit.models.ultralytics.head import Detect
from edgekit.models.ultralytics.rtdetr import RTDETRDecoder
from edgekit.reparam.passes import DropModulesPass
from edgekit.reparam.pipeline import PIPELINES, Pipeline, ReparamOptions, standard_pipeline
from edgekit.reparam.protocol import PASSES, Pass


def _head_paths(
    model: nn.Module, parts: Callable[[Detect], List[str]], kinds: tuple = (Detect,)
) -> List[str]:
    return [
        f"{name}.{attr}" if name else attr
        for name, m in model.named_modules()
        if isinstance(m, kinds)
        for attr in parts(m)
    ]


def unused_head_branches(model: nn.Module) -> List[str]:
    """Dotted paths of the ``Detect`` branches the eval forward does not use (``Detect.unused_branches``)."""
    return _head_paths(model, lambda head: head.unused_branches())


def train_only_head_parts(model: nn.Module) -> List[str]:
    """Dotted paths of the head modules only the training loss reads (``Detect.train_only_parts``,
    ``RTDETRDecoder.train_only_parts``: denoising queries, earlier layers' score heads)."""
    return _head_paths(model, lambda head: head.train_only_parts(), (Detect, RTDETRDecoder))


@PASSES.register("ultralytics_head_branch")
def unused_head_branch_pass() -> Pass:
    """Drop the head branch the forward does not read: one-to-many in end-to-end mode (Detect.fuse)."""
    return DropModulesPass(unused_head_branches, name="drop_unused_head_branch")


@PASSES.register("ultralytics_train_only_head")
def train_only_head_pass() -> Pass:
    """Drop the head modules only the training loss reads (Pose26 flow model and sigma, Proto26 semseg,
    RT-DETR's denoising embedding and the score heads of its non-final decoder layers)."""
    return DropModulesPass(train_only_head_parts, name="drop_train_only_head")


@PIPELINES.register("ultralytics")
def ultralytics_pipeline(info: ModelInfo, options: ReparamOptions) -> Pipeline:
    """Head branch drop (heads with both branches) -> training-only head parts -> RepConv/RepVGGDW
    -> Conv+BN fold -> head form (segment / pose / OBB heads: ``edgekit.reparam.task_heads``)."""
    structural = [unused_head_branch_pass()] if info.structures.one_to_many_head else []
    if info.structures.train_only_head:
        structural.append(train_only_head_pass())
    return standard_pipeline(info, options, structural=structural)
