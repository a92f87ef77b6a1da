"""Named Ultralytics architectures, so a model can be built without a checkpoint.

``archs.json`` holds the architecture dicts of the official model yamls (transcribed from
``ultralytics/cfg/models`` of the pip package 8.4.190; each entry names its source file).
A variant name is a yaml stem plus a scale letter, as Ultralytics resolves ``yolo11n.yaml``
to ``yolo11.yaml`` with scale ``n``.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Tuple

from edgekit.errors import UnsupportedModelError

ARCH_FILE = Path(__file__).with_name("archs.json")


@lru_cache(maxsize=1)
def _archs() -> Dict[str, Dict[str, Any]]:
    with open(ARCH_FILE, encoding="utf-8") as fh:
        return json.load(fh)


def _variants() -> Tuple[str, ...]:
    out = []
    for base, d in _archs().items():
        scales = d.get("scales") or {}
        if len(scales) <= 1 or base[-1] in scales:  # yolov10n, yolov9c: one file per variant
            out.append(base)
        else:
            out.extend(f"{base}{s}" for s in scales)
    return tuple(out)


VARIANTS: Tuple[str, ...] = _variants()


def get_arch(name: str, nc: int = 80) -> Dict[str, Any]:
    """The architecture dict of a named variant (``yolo11n``, ``yolov10b``, ``yolov9c``...)."""
    key = name.strip().lower()
    if key.endswith(".yaml"):
        key = key[: -len(".yaml")]
    archs = _archs()
    if key in archs:
        d = copy.deepcopy(archs[key])
        scales = d.get("scales") or {}
        scale = key[-1] if key[-1] in scales else next(iter(scales), "")
    elif key[:-1] in archs and key[-1] in (archs[key[:-1]].get("scales") or {}):
        d, scale = copy.deepcopy(archs[key[:-1]]), key[-1]
    else:
        raise UnsupportedModelError(
            f"unknown Ultralytics architecture '{name}' (known: {', '.join(VARIANTS)})"
        )
    d.pop("source", None)
    d["nc"] = int(nc)
    if scale:
        d["scale"] = scale
    d["yaml_file"] = f"{key}.yaml"
    return d
