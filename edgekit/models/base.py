"""The plug-in base of detector families and their registry.

A family turns a safely-read checkpoint (``edgekit.loading.checkpoint``) into a
``LoadedModel`` (see the model contract, ``edgekit.contract.model``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Tuple

from edgekit.contract.model import LoadedModel
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


FAMILIES: Registry[Family] = Registry("model family")
