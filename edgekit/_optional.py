"""The one place optional dependencies are imported.

``require("onnxruntime")`` returns the module or raises ``MissingDependencyError`` that
names the exact ``pip install "edgekit-detect[extra]"`` to run.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Dict, Optional

from edgekit.backends import BACKENDS
from edgekit.errors import MissingDependencyError

# import name -> the extra of pyproject.toml that installs it (the backends' own from their descriptors)
EXTRAS: Dict[str, str] = {
    **{m.name: m.extra for name in BACKENDS for m in BACKENDS.get(name).all_modules()},
    "torch": "convert",
    "onnx": "convert",
    "onnxslim": "convert",
    "onnxscript": "convert",
    "nncf": "int8",
    "litert_torch": "tflite-convert",
    "ai_edge_quantizer": "tflite-convert",
    "cv2": "cv",
    "faster_coco_eval": "eval",
    "yaml": "convert",
    "rich": "convert",
    "norfair": "track",
}


def require(module: str, extra: Optional[str] = None, reason: Optional[str] = None) -> ModuleType:
    """Import ``module`` or raise ``MissingDependencyError`` naming its extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] not in (top, module):
            raise  # the module exists but one of *its* imports is broken: an internal error
        raise MissingDependencyError(module, extra or EXTRAS.get(top, "all"), reason) from exc


def available(module: str) -> bool:
    """True when ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def version_of(module: str) -> Optional[str]:
    """The installed distribution version of an importable module, or None."""
    if not available(module):
        return None
    try:
        mod = importlib.import_module(module)
    except Exception:  # noqa: BLE001 - a broken install is reported as absent
        return None
    return str(getattr(mod, "__version__", "unknown"))
