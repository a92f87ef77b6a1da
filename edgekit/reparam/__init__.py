"""Reparameterization: turn a train-time detector into its inference form, verified per pass.

Usage::

    from edgekit.reparam import reparameterize, sample_inputs, standard_pipeline, ReparamOptions

    pipeline = standard_pipeline(info, ReparamOptions(output="split"), structural=[...])
    model, report = reparameterize(loaded.model, pipeline, sample_inputs(info.imgsz, info.preprocess))
    print(report.format_table()); manifest["reparam"] = report.to_dict()

The walker deep-copies the model (unless ``inplace=True``), runs every applicable pass, and
after each one compares every output tensor with the ORIGINAL model's outputs
(``max|a-b| <= 1e-4 * max|b|``, FP32, on synthetic images); a drifting pass raises
``VerificationError("pass 'conv_bn' changed output 3 by 2.1e-03 (> 0.0001)")``.

Hooks a family implements (nothing is guessed from attribute names)
------------------------------------------------------------------
1. ``deploy_form(self) -> nn.Module`` on any module with a fused form
   (:class:`Reparameterizable`). Applied by ``DeployFormPass`` children-first, so a
   deploy_form must accept children that are already in deploy form or already folded:
   read branches with :func:`as_conv_bn` (returns ``(conv, bn_or_None)``) and build with
   :mod:`edgekit.reparam.fusion`. Examples:

   - RepConv (DAMO ``RepConv``, YOLOv9 ``RepConvN``, Ultralytics ``RepConv``)::

         def deploy_form(self):
             branches = [as_conv_bn(self.conv1), as_conv_bn(self.conv2)]
             if self.bn is not None:                 # Ultralytics identity-BN branch
                 branches.append((None, self.bn))
             return FusedConv(fuse_branches(branches), self.act)

   - DAMO ``ZeroHead``: fold ``self.gfl_reg[i] = fold_scale_into_conv(self.gfl_reg[i],
     self.scales[i].scale)``, ``self.scales[i] = nn.Identity()``. Prefer returning a module
     of another class (a deploy head without ``deploy_form``): a module that returns ``self``
     keeps matching the protocol, so its ``deploy_form`` must then be a no-op the second time.

2. ``conv_bn_pairs(self) -> Sequence[Tuple[str, str]]`` on modules whose forward applies
   ``bn(conv(x))`` with nothing in between (:class:`ConvBnFusible`), e.g. Ultralytics/YOLOv9
   ``Conv`` and DAMO ``ConvBNAct``/``ConvBN`` -> ``[("conv", "bn")]``, DAMO ``ConvKXBN`` ->
   ``[("conv1", "bn1")]``. ``ConvBnFoldPass`` replaces ``conv`` by the folded conv (with bias)
   and ``bn`` by ``nn.Identity``; the forward is unchanged. ``nn.Sequential(Conv2d, BN)`` is
   folded without declaration. BatchNorms left over are listed in the pass details;
   :func:`batchnorm_paths` lets a family test assert that none remain.

3. Family-specific passes: subclass :class:`Pass` (``name``, ``applies(model)``,
   ``run(model) -> PassResult(changed, details, model=None)``; set ``PassResult.model`` to
   replace the root) and register the factory with ``@PASSES.register("pgi_strip")``.
   Dropping train-only modules needs no subclass: ``DropModulesPass(select, name=...)``
   with ``select(model) -> [dotted paths]`` (distillation leftovers, one-to-many branch).
   The PGI strip can build on :mod:`edgekit.reparam.graph` (``reachable_layers``,
   ``renumber_layers``, ``save_indices``). A pass that changes the output structure on
   purpose overrides ``reference_transform(outputs)`` (and optionally ``compare``).

4. ``@PIPELINES.register("<family>")`` a factory ``(info, options) -> Pipeline``; usually
   ``standard_pipeline(info, options, structural=[family passes])``, which appends
   ``DeployFormPass``, ``ConvBnFoldPass`` and the head form chosen by :class:`ReparamOptions`
   (``output``: raw/split/concat/end2end; ``dfl``: fused/host/none).

The model handed to the walker must follow the raw output convention of
``edgekit.contract.model`` (per level box logits and class logits) for the head passes.
"""

from __future__ import annotations

from edgekit.reparam.fusion import (
    FusedConv,
    branch_kernel,
    conv_from_kernel,
    fold_conv_bn,
    fold_scale_into_conv,
    fuse_branches,
    identity_kernel,
    merge_branches,
    pad_kernel_to,
)
from edgekit.reparam.head_passes import End2EndPass, OutputFormPass
from edgekit.reparam.heads import DecodedHead, End2EndHead, reference_outputs
from edgekit.reparam.passes import (
    ConvBnFoldPass,
    DeployFormPass,
    DropModulesPass,
    as_conv_bn,
    batchnorm_paths,
)
from edgekit.reparam.pipeline import PIPELINES, Pipeline, ReparamOptions, head_passes, standard_pipeline
from edgekit.reparam.protocol import (
    PASSES,
    ConvBnFusible,
    Pass,
    PassResult,
    Reparameterizable,
    flatten_outputs,
)
from edgekit.reparam.report import Measurement, PassRecord, ReparamReport, measure
from edgekit.reparam.samples import randomize_batchnorm, sample_inputs, synthetic_images
from edgekit.reparam.walker import reparameterize

__all__ = [
    "PASSES",
    "PIPELINES",
    "ConvBnFoldPass",
    "ConvBnFusible",
    "DecodedHead",
    "DeployFormPass",
    "DropModulesPass",
    "End2EndHead",
    "End2EndPass",
    "FusedConv",
    "Measurement",
    "OutputFormPass",
    "Pass",
    "PassRecord",
    "PassResult",
    "Pipeline",
    "ReparamOptions",
    "ReparamReport",
    "Reparameterizable",
    "as_conv_bn",
    "batchnorm_paths",
    "branch_kernel",
    "conv_from_kernel",
    "flatten_outputs",
    "fold_conv_bn",
    "fold_scale_into_conv",
    "fuse_branches",
    "head_passes",
    "identity_kernel",
    "measure",
    "merge_branches",
    "pad_kernel_to",
    "randomize_batchnorm",
    "reference_outputs",
    "reparameterize",
    "sample_inputs",
    "standard_pipeline",
    "synthetic_images",
]
