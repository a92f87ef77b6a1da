"""YOLOv9's reparameterization pipeline: PGI strip, RepConvN deploy forms, Conv+BN folds.

A train-time ``yolov9-*`` model carries PGI: an auxiliary reversible branch (CBLinear taps
and a second backbone for m/c, a second neck for t/s/e) that only feeds the auxiliary half
of its ``DualDDetect`` head. :func:`strip_pgi` keeps the layers reachable backwards from the
MAIN head inputs, renumbers them, rewrites every ``from`` and turns the head into a
``DDetect`` (``cv4/cv5/dfl2`` -> ``cv2/cv3/dfl``): the result IS the ``gelan-*`` model, as
the official ``tools/reparameterization.ipynb`` builds it (m/c: i -> i-1 for 1-22, head
38 -> 22; t/s: 0-21 kept, head 29 -> 22; e: 0-28 kept, 36-48 -> 29-41, head 49 -> 42).
A ``Silence`` left with a single reader is bypassed (m/c); gelan-e keeps its own, which
both of its backbones read. The main branch is computed by the same modules on the same
inputs, so the strip changes no output bit (:class:`PgiStripPass` checks exactly that).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import nn

from edgekit.contract.model import ModelInfo
from edgekit.errors import VerificationError
from edgekit.models.yolov9.archs import layer_rows
from edgekit.models.yolov9.build import YoloV9Model, official_type
from edgekit.models.yolov9.family import identify
from edgekit.models.yolov9.heads import MAIN_HEADS
from edgekit.models.yolov9.modules import Silence
from edgekit.reparam.graph import From, reachable_layers, renumber_layers, resolve_from
from edgekit.reparam.pipeline import PIPELINES, Pipeline, ReparamOptions, standard_pipeline
from edgekit.reparam.protocol import PASSES, Pass, PassResult, flatten_outputs
from edgekit.verify import Bounds, OutputCheck

_MAIN_HEAD_NAMES = {"DualDDetect": "DDetect", "DualDetect": "Detect"}


@dataclass(frozen=True)
class StripPlan:
    """What :func:`strip_pgi` does: ``mapping`` old -> new layer index, ``froms`` the new ``from``s."""

    mapping: Dict[int, int]
    froms: List[From]
    bypassed: List[int]


def _restyle(old_from: From, new_from: From, new_index: int) -> From:
    """Keep the official yaml style: an absolute reference stays absolute (``[15, 18, 21]``)
    even where it now names the previous layer; ``-1`` stays ``-1`` where possible."""
    olds = [old_from] if isinstance(old_from, int) else list(old_from)
    news = [new_from] if isinstance(new_from, int) else list(new_from)
    fixed = [new_index - 1 if o >= 0 and n == -1 and new_index > 0 else n for o, n in zip(olds, news)]
    return fixed[0] if isinstance(new_from, int) else fixed


def plan_strip(model: YoloV9Model) -> StripPlan:
    """The layers the main head needs, renumbered, for a PGI (``DualDDetect``) model."""
    head = model.head
    if type(head) not in MAIN_HEADS:
        raise ValueError(f"{type(head).__name__} is not a PGI (dual) head: nothing to strip")
    froms: List[From] = [layer.f for layer in model.model]
    h = len(froms) - 1
    head_from = [head.f] if isinstance(head.f, int) else list(head.f)
    froms[h] = [head_from[p] for p in head.main_positions()]  # the main inputs only
    keep = reachable_layers(froms, [h])
    readers: Dict[int, int] = {}
    for i in keep:
        for src in set(resolve_from(froms[i], i)):
            readers[src] = readers.get(src, 0) + 1
    # a Silence read by one kept layer is an identity in front of it (m/c); gelan-e keeps its own
    bypass = [i for i in keep if isinstance(model.model[i], Silence) and readers.get(i, 0) <= 1]
    mapping, new_froms = renumber_layers(froms, keep, bypass)
    styled = [_restyle(froms[old], f, new) for (old, new), f in zip(mapping.items(), new_froms)]
    return StripPlan(mapping, styled, bypass)


def strip_pgi(model: YoloV9Model, inplace: bool = False, plan: Optional[StripPlan] = None) -> YoloV9Model:
    """The inference (``gelan-*``) model inside a PGI model, weights unchanged (not fused).

    With ``inplace`` the main-branch modules are re-used (and renumbered) instead of copied:
    ``model`` must not be used afterwards. ``plan``: :func:`plan_strip`'s, if already made.
    """
    plan = plan or plan_strip(model)
    rows = layer_rows(model.yaml)
    head_old = len(model.model) - 1
    new_rows, layers = [], []
    for old, new in plan.mapping.items():
        _, n, name, args = rows[old]
        layer = model.model[old] if inplace else copy.deepcopy(model.model[old])
        if old == head_old:
            name = _MAIN_HEAD_NAMES[name]
            layer = layer.main_head()
            layer.type = official_type(type(layer))
            layer.np = sum(p.numel() for p in layer.parameters())
        layer.i, layer.f = new, plan.froms[new]
        new_rows.append([plan.froms[new], n, name, copy.deepcopy(args)])
        layers.append(layer)
    n_backbone = sum(1 for old in plan.mapping if old < len(model.yaml["backbone"]))
    arch = {k: copy.deepcopy(v) for k, v in model.yaml.items() if k not in ("backbone", "head")}
    arch["backbone"], arch["head"] = new_rows[:n_backbone], new_rows[n_backbone:]
    stripped = YoloV9Model.from_layers(arch, layers)
    stripped.names = list(model.names)
    stripped.inplace = model.inplace
    return stripped


def _numel(module: nn.Module) -> int:
    return sum(t.numel() for t in module.parameters()) + sum(t.numel() for t in module.buffers())


@PASSES.register("pgi_strip")
class PgiStripPass(Pass):
    """Drop the PGI auxiliary branch: keep what the main head reads, DualDDetect -> DDetect (gelan)."""

    name = "pgi_strip"

    def applies(self, model: nn.Module) -> bool:
        return isinstance(model, YoloV9Model) and model.pgi

    def run(self, model: nn.Module) -> PassResult:
        assert isinstance(model, YoloV9Model)
        plan = plan_strip(model)
        before, n_before = _numel(model), len(model.model)
        head = type(model.head).__name__
        stripped = strip_pgi(model, inplace=True, plan=plan)
        moved = sum(1 for old, new in plan.mapping.items() if old != new)
        details = [
            f"kept {len(stripped.model)} of {n_before} layers ({moved} renumbered"
            + (f", Silence {plan.bypassed} bypassed" if plan.bypassed else "")
            + ")",
            f"head {head} -> {type(stripped.head).__name__} (cv4/cv5/dfl2 -> cv2/cv3/dfl)",
            f"dropped {before - _numel(stripped):,} parameters and buffer values",
        ]
        named = identify(stripped.yaml)
        if named:
            details.append(f"structure of {named}")
        return PassResult(changed=n_before - len(stripped.model), details=details, model=stripped)

    def compare(
        self, actual: Any, expected: Any, bounds: Bounds, noise: Sequence[float] = ()
    ) -> List[OutputCheck]:
        """Bitwise: the main branch runs the same modules on the same inputs."""
        rows = super().compare(actual, expected, bounds, noise)
        for i, ((path, a), (_, b)) in enumerate(zip(flatten_outputs(actual), flatten_outputs(expected))):
            if not torch.equal(a, b):
                raise VerificationError(
                    f"pass '{self.name}' must leave the main-branch outputs bitwise equal; "
                    f"output {i} {path} differs by {rows[i].max_abs:.2g}"
                )
        return rows


@PIPELINES.register("yolov9")
def yolov9_pipeline(info: ModelInfo, options: ReparamOptions) -> Pipeline:
    """PGI strip (train-time models) -> RepConvN deploy forms -> Conv+BN folds -> head form."""
    structural = [PgiStripPass()] if info.structures.pgi_branch else []
    return standard_pipeline(info, options, structural=structural)
