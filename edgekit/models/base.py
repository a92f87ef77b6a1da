"""The plug-in base of detector families and their registry.

A family turns a safely-read checkpoint (``edgekit.loading.checkpoint``) into a
``LoadedModel`` (see the model contract, ``edgekit.contract.model``).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Tuple

from edgekit.contract.model import LoadedModel
from edgekit.errors import UnsupportedModelError
from edgekit.registry import Registry

if TYPE_CHECKING:
    from edgekit.loading.checkpoint import RawCheckpoint


class Family:
    """Base class of a registered family. Subclasses implement the three hooks."""

    name: str = ""
    variants: Tuple[str, ...] = ()

    def score(self, ckpt: RawCheckpoint) -> float:
        """0.0 = not this family, 1.0 = certainly this family."""
        raise NotImplementedError

    def load(self, ckpt: RawCheckpoint, arch: Optional[str] = None) -> LoadedModel:
        """Rebuild the model from edgekit's code and load the checkpoint's weights."""
        raise NotImplementedError

    def build(self, arch: str, nc: int = 80) -> LoadedModel:
        """Build an un-trained model of a named variant (structural checks, tests)."""
        raise NotImplementedError

    def select_head(self, loaded: LoadedModel, head: Optional[str]) -> LoadedModel:
        """``loaded`` exporting the head ``head`` ("one2one": NMS-free, "one2many": with NMS; None:
        the model's own choice). A model with one head takes only that head's name."""
        if head is None:
            return loaded
        info = loaded.info
        if info.structures.one_to_many_head:  # both branches: the family switches
            one2one = head == "one2one"
            model = self.use_branch(loaded, one2one)
            return LoadedModel(
                model, dataclasses.replace(info, head=dataclasses.replace(info.head, end2end=one2one))
            )
        has = "one2one" if info.head.end2end else "one2many"
        if head != has:
            kind = "an NMS-free (one-to-one) head only" if has == "one2one" else "one head, which needs NMS"
            raise UnsupportedModelError(
                f"{info.source or info.variant}: --head {head} needs a model with both heads "
                f"(YOLOv10, YOLO26 before fusing); {info.variant} has {kind}"
            )
        return loaded

    def use_branch(self, loaded: LoadedModel, one2one: bool) -> Any:
        """The model of a dual-head checkpoint with its forward on the one-to-one branch or not."""
        raise UnsupportedModelError(f"{self.name}: models with two heads are not implemented")


def load_weights(model: Any, sd: Mapping[str, Any], source: str, what: str = "the architecture") -> None:
    """``model.load_state_dict(sd, strict=True)`` with a one-line error naming what does not fit."""
    own = model.state_dict()
    problems = {
        "missing": [k for k in own if k not in sd],
        "unexpected": [k for k in sd if k not in own],
        "of another shape": [k for k, v in own.items() if k in sd and tuple(sd[k].shape) != tuple(v.shape)],
    }
    parts = [f"{len(keys)} {kind} (e.g. {keys[0]})" for kind, keys in problems.items() if keys]
    if parts:
        raise UnsupportedModelError(f"{source}: the weights do not fit {what}: {'; '.join(parts)}")
    model.load_state_dict(dict(sd), strict=True)


def split_channels(y: Any, sizes: Sequence[int]) -> Tuple[Any, ...]:
    """``y.split(sizes, dim=1)`` as a tuple, but ``(y,)`` where there is one piece: litert-torch
    lowers a one-way ``split_with_sizes`` to a list and fails ("'list' object has no attribute
    'dtype'"; YOLOv9-E's CBLinear layers, found by the Raspberry Pi variant sweep)."""
    return (y,) if len(sizes) == 1 else tuple(y.split(list(sizes), dim=1))


FAMILIES: Registry[Family] = Registry("model family")
