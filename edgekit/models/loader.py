"""Checkpoint -> family model: read the file once, let each registered family score it."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Dict, List, Optional, Union

from edgekit.contract.model import LoadedModel
from edgekit.errors import UnsupportedModelError
from edgekit.loading.checkpoint import RawCheckpoint, read_checkpoint
from edgekit.loading.records import Record, describe
from edgekit.models.base import FAMILIES, Family

FAMILY_MODULES = (
    "edgekit.models.ultralytics",
    "edgekit.models.yolov9",
    "edgekit.models.damoyolo",
    "edgekit.models.rtdetrv2",
)
SUPPORTED = "ultralytics, yolov9, damoyolo, rtdetrv2"


def import_families() -> List[str]:
    """Import the family modules present (each registers itself in ``FAMILIES``)."""
    for module in FAMILY_MODULES:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    return FAMILIES.names()


def _families() -> Dict[str, Family]:
    import_families()
    return {name: FAMILIES.get(name) for name in FAMILIES.names()}


def family_for_arch(arch: str) -> Optional[str]:
    """The family listing ``arch`` as a variant (case-insensitive), else one whose name prefixes it."""
    wanted = arch.strip().lower()
    families = _families()
    for name, fam in families.items():
        if wanted in (v.lower() for v in fam.variants):
            return name
    for name in families:
        if wanted.startswith(name.lower()):
            return name
    return None


def _seen(ckpt: RawCheckpoint) -> str:
    if isinstance(ckpt.obj, dict):
        keys = ckpt.keys()
        text = ", ".join(keys[:8]) + (", ..." if len(keys) > 8 else "")
        model = ckpt.obj.get("model")
        if isinstance(model, Record):
            text += f"; model is {model.cls}"
        return text or "(empty dict)"
    return describe(ckpt.obj) or "?"


def family_of(name: str) -> Family:
    """The registered family ``name`` (``ModelInfo.family``)."""
    families = _families()
    if name not in families:
        known = ", ".join(sorted(families)) or "none installed"
        raise UnsupportedModelError(f"unknown model family '{name}' (known: {known})")
    return families[name]


def choose_family(ckpt: RawCheckpoint, arch: Optional[str] = None, family: Optional[str] = None) -> Family:
    """The family that will load ``ckpt``: explicit, implied by ``arch``, else the best score."""
    if family is not None:
        return family_of(family)
    families = _families()
    scores = {name: float(fam.score(ckpt)) for name, fam in families.items()}
    best = max(scores, key=lambda n: scores[n]) if scores else None
    chosen = family_for_arch(arch) if arch else None
    if chosen is not None:
        if scores.get(chosen, 0.0) == 0.0 and best is not None and scores[best] >= 0.5:
            raise UnsupportedModelError(
                f"{ckpt.path}: --arch {arch} is a {chosen} variant but the checkpoint is recognised as {best}"
            )
        return families[chosen]
    if best is None or scores[best] <= 0.0:
        raise UnsupportedModelError(
            f"{ckpt.path}: not a checkpoint of a supported family ({SUPPORTED}); keys seen: {_seen(ckpt)}"
        )
    return families[best]


def load_checkpoint(
    path: Union[str, Path], arch: Optional[str] = None, family: Optional[str] = None
) -> LoadedModel:
    """Read ``path`` safely and rebuild its model with edgekit's own code.

    ``arch`` names a variant ("yolo11n", "gelan-c", "damoyolo-t") where the checkpoint
    does not carry its architecture; it also selects the family. ``family`` forces one.
    """
    ckpt = read_checkpoint(path)
    fam = choose_family(ckpt, arch, family)
    loaded = fam.load(ckpt, arch)
    loaded.info.source = Path(path).name
    loaded.info.source_sha256 = ckpt.sha256
    return loaded


def build_model(arch: str, nc: int = 80) -> LoadedModel:
    """An untrained model of a named variant (for tests and structural checks)."""
    name = family_for_arch(arch)
    if name is None:
        variants = sorted(v for fam in _families().values() for v in fam.variants)
        raise UnsupportedModelError(f"unknown architecture '{arch}' (known: {', '.join(variants) or 'none'})")
    return family_of(name).build(arch, nc=nc)
