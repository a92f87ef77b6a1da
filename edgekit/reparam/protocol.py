"""The reparameterization protocol: what modules expose and what a pass is.

Modules opt in explicitly, nothing is guessed from attribute names:

- ``deploy_form(self) -> nn.Module`` (:class:`Reparameterizable`): the module's fused
  inference replacement, e.g. a RepConv returns a :class:`~edgekit.reparam.fusion.FusedConv`.
- ``conv_bn_pairs(self) -> Sequence[Tuple[str, str]]`` (:class:`ConvBnFusible`): attribute
  paths ``(conv, bn)`` that the module's forward applies as ``bn(conv(x))`` with nothing in
  between. The fold replaces ``conv`` with the folded conv and ``bn`` with ``nn.Identity``,
  so the forward keeps working unchanged.

A :class:`Pass` changes a model in place and says what it did; the walker
(:func:`edgekit.reparam.walker.reparameterize`) verifies the outputs after each one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Protocol, Sequence, Tuple, runtime_checkable

import torch
from torch import nn

from edgekit.errors import VerificationError
from edgekit.registry import Registry
from edgekit.verify import Bounds, OutputCheck, check_output
from edgekit.verify.bounds import for_queries


@runtime_checkable
class Reparameterizable(Protocol):
    """A module that knows its fused inference form."""

    def deploy_form(self) -> nn.Module:
        """A new module computing the same function with fewer operations (weights copied)."""
        ...


@runtime_checkable
class ConvBnFusible(Protocol):
    """A module whose forward applies ``bn(conv(x))`` for the named attribute pairs."""

    def conv_bn_pairs(self) -> Sequence[Tuple[str, str]]:
        """``[("conv", "bn")]``-style attribute paths relative to the module."""
        ...


@dataclass
class PassResult:
    """What a pass did. ``model`` is set when the pass replaced the root module itself."""

    changed: int = 0
    details: List[str] = field(default_factory=list)
    model: Optional[nn.Module] = None


def flatten_outputs(outputs: Any, prefix: str = "") -> List[Tuple[str, torch.Tensor]]:
    """Nested tuples/lists/dicts of tensors -> ``[(path, tensor)]`` in a stable order."""
    if isinstance(outputs, torch.Tensor):
        return [(prefix or "[0]", outputs)]
    if isinstance(outputs, dict):
        items = list(outputs.items())
    elif isinstance(outputs, (list, tuple)):
        items = list(enumerate(outputs))
    else:
        raise TypeError(f"model output {prefix or ''} is a {type(outputs).__name__}, not tensors")
    flat: List[Tuple[str, torch.Tensor]] = []
    for key, value in items:
        flat.extend(flatten_outputs(value, f"{prefix}[{key}]"))
    return flat


class Pass:
    """One reparameterization step. Subclasses set ``name`` and implement :meth:`run`.

    A pass that changes the output *structure* on purpose (a decoded head, a top-k) overrides
    :meth:`reference_transform` so that verification still compares numbers; it may also
    override :meth:`compare` (the default compares every flattened tensor).
    """

    name: str = ""

    def applies(self, model: nn.Module) -> bool:
        """Whether :meth:`run` has anything to do on ``model``."""
        return True

    def run(self, model: nn.Module) -> PassResult:
        """Change ``model`` in place (or return a new root in ``PassResult.model``)."""
        raise NotImplementedError

    def reference_transform(self, outputs: Any) -> Any:
        """Map the expected outputs before this pass to the expected outputs after it."""
        return outputs

    #: the manifest role of each flattened output ("raw": logits, distributions); empty: all raw
    roles: Sequence[str] = ()
    layout: str = "BNC"  # decoded outputs of the head forms are (B, N, C)
    #: what both sides' outputs are compared as, when not as they are: ``(function, roles)`` (a
    #: query head's raw queries come in the order of near-tied encoder scores: compared as rows)
    view: Optional[Tuple[Callable[[Any], Any], Sequence[str]]] = None

    def compare(
        self, actual: Any, expected: Any, bounds: Bounds, noise: Sequence[float] = ()
    ) -> List[OutputCheck]:
        """One ``edgekit.verify`` row per flattened output, each bounded by its role (widened by
        ``noise[i]``, the model's own scaled float32 rounding on that output); structural changes
        (number or shape of outputs) raise ``VerificationError``."""
        roles = self.roles
        if self.view is not None:
            function, roles = self.view
            actual, expected, noise = function(actual), function(expected), ()
        head = getattr(self, "head", None)
        if self.view is not None or (head is not None and head.queries):  # a query head's rows
            bounds = for_queries(bounds)
        got, want = flatten_outputs(actual), flatten_outputs(expected)
        if len(got) != len(want):
            raise VerificationError(
                f"pass '{self.name}' changed the number of outputs from {len(want)} to {len(got)}"
            )
        rows = []
        for i, ((path, a), (_, b)) in enumerate(zip(got, want)):
            if a.shape != b.shape:
                raise VerificationError(
                    f"pass '{self.name}' changed output {i} {path} "
                    f"from shape {tuple(b.shape)} to {tuple(a.shape)}"
                )
            role = roles[i] if i < len(roles) else "raw"
            extra = noise[i] if i < len(noise) else 0.0
            rows.append(check_output(f"output {i}", role, a, b, bounds, self.layout, extra))
        return rows

    def describe(self) -> str:
        """One line for ``edgekit inspect --plan``."""
        doc = (type(self).__doc__ or self.name).strip().splitlines()[0]
        return f"{self.name}: {doc}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


#: pass factories by name; families register theirs (``pgi_strip``, ``damo_scale``, ...)
PASSES: Registry[Callable[..., Pass]] = Registry("reparameterization pass")
