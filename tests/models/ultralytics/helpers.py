"""Shared helpers of the Ultralytics family tests: the golden fixtures and their provenance."""

from __future__ import annotations

import copy
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import torch

from edgekit.contract.model import LoadedModel
from edgekit.models.loader import load_checkpoint

from ..golden import fixture_entry, read_provenance

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "ultralytics"
REQUIRED = ("source", "ultralytics_version", "torch_version", "date", "command", "fixtures")
#: every fixture tools/make_ultralytics_golden.py writes (a missing one fails, never skips)
FIXTURES = ("yolo11_tiny", "yolov8_tiny", "gelan_tiny", "yolo12_tiny", "yolo26_tiny", "yolov10_tiny")
END2END = ("yolo26_tiny", "yolov10_tiny")
#: the segment / pose / OBB fixtures of tools/make_ultralytics_task_golden.py (their own provenance)
TASK_GOLDEN = GOLDEN.with_name("ultralytics_tasks")
TASK_FIXTURES = tuple(f"{v}_{t}" for v in ("yolov8", "yolo11", "yolo26") for t in ("seg", "pose", "obb"))
TASK_END2END = tuple(n for n in TASK_FIXTURES if n.startswith("yolo26"))


def provenance(name: str, golden: Path = GOLDEN) -> Dict[str, Any]:
    """The provenance entry of a fixture; fails (never skips) when missing or incomplete."""
    path = golden / "provenance.json"
    prov = read_provenance(path, REQUIRED, lambda p: "ultralytics" in p["source"], "the ultralytics package")
    return fixture_entry(prov, path, name)


def checkpoint_path(name: str, golden: Path = GOLDEN) -> Path:
    """The fixture's .pt file, checked against the hash its provenance records."""
    entry = provenance(name, golden)
    path = golden / entry["checkpoint"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == entry["checkpoint_sha256"], f"{path.name} is not the file the provenance describes"
    return path


@lru_cache(maxsize=None)
def _load(name: str, golden: Path) -> Tuple[LoadedModel, Dict[str, np.ndarray]]:
    loaded = load_checkpoint(checkpoint_path(name, golden))
    ref = dict(np.load(golden / provenance(name, golden)["reference"]))
    return loaded, ref


def load_golden(name: str, golden: Path = GOLDEN) -> Tuple[LoadedModel, Dict[str, np.ndarray]]:
    """Load the fixture through edgekit's loader (safe reader + family dispatch) and its references.

    Each call returns a fresh copy (tests may change the model); the file is read once per session.
    """
    provenance(name, golden)  # fails without provenance, even when cached
    loaded, ref = _load(name, golden)
    return copy.deepcopy(loaded), dict(ref)


def run(model: torch.nn.Module, ref: Dict[str, np.ndarray]) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
    with torch.no_grad():
        return model(torch.from_numpy(ref["input"]))


def task_input(ref: Dict[str, np.ndarray]) -> torch.Tensor:
    """A task fixture's input: its uint8 ``pixels`` / 255, computed as the fixture tool did."""
    return torch.from_numpy(ref["pixels"]).float() / 255


def to_ultralytics_layout(boxes: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """edgekit's (B, N, 4) xyxy + (B, N, nc) scores -> Ultralytics' (B, 4 + nc, N) xywh + scores."""
    xy = (boxes[..., :2] + boxes[..., 2:]) / 2
    wh = boxes[..., 2:] - boxes[..., :2]
    return torch.cat((xy, wh, scores), -1).transpose(1, 2)
