"""DAMO-YOLO's reparameterization pipeline: RepConv and Scale deploy forms, then Conv+BN folds.

Nothing structural to strip: the distillation ``feature_loss`` never enters the model. The
modules declare their hooks themselves (``RepConv.deploy_form``, ``ZeroHead.deploy_form``,
``conv_bn_pairs`` on every Conv+BN module; the Nano ``MobileV3Block`` Sequentials fold as is).
"""

from __future__ import annotations

from edgekit.contract.model import ModelInfo
from edgekit.reparam.pipeline import PIPELINES, Pipeline, ReparamOptions, standard_pipeline


@PIPELINES.register("damoyolo")
def damoyolo_pipeline(info: ModelInfo, options: ReparamOptions) -> Pipeline:
    return standard_pipeline(info, options)
