"""Runtime wrappers, one per backend; each imports its backend lazily."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Optional, Sequence, Type

from edgekit.backends import BACKENDS
from edgekit.bundle.manifest import InputSpec, OutputSpec
from edgekit.runtimes.base import RUNTIMES, Runtime


def runtime_class(backend: str) -> Type[Runtime]:
    """The runtime class of ``backend``, importing its module on first use."""
    if backend not in RUNTIMES and backend in BACKENDS:
        importlib.import_module(BACKENDS.get(backend).runtime)
    return RUNTIMES.get(backend)


def open_runtime(
    backend: str,
    model_path: Path,
    inp: InputSpec,
    outputs: Sequence[OutputSpec],
    threads: Optional[int] = None,
    **options: Any,
) -> Runtime:
    return runtime_class(backend)(model_path, inp, outputs, threads=threads, **options)


__all__ = ["RUNTIMES", "Runtime", "open_runtime", "runtime_class"]
