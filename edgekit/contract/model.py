"""The model contract: what a family tells the rest of edgekit about a detector.

A family (``edgekit.models``) turns a safely-read checkpoint (``edgekit.loading``) into a
``torch.nn.Module`` built from edgekit's own code plus a ``ModelInfo`` describing it.

Raw output convention (shared by every family, consumed by reparam and the converters):
``model(x)`` in eval mode returns ``RawHeadOutput``: per detection level, the box
regression logits ``(B, 4 * bins, H, W)`` (``bins == 1`` for heads without DFL, which
then hold the four ltrb distances in grid units) and the class logits ``(B, nc, H, W)``
before the sigmoid. ``edgekit.contract.decode`` turns them into boxes and scores.

This module imports neither torch nor numpy: the on-device side may read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

if TYPE_CHECKING:  # the converter side needs torch; the on-device side never imports it
    import torch


@dataclass(frozen=True)
class PreprocessSpec:
    """How an image becomes the network input."""

    resize: str = "letterbox"  # "letterbox" (keep aspect, pad) or "stretch"
    pad_value: int = 114
    color: str = "RGB"  # channel order the network expects
    scale: float = 1.0 / 255.0  # multiply uint8 pixels by this (1.0 for DAMO-YOLO)


@dataclass(frozen=True)
class HeadSpec:
    """Everything the decoder needs to know about a family's head."""

    strides: Tuple[int, ...] = (8, 16, 32)
    bins: int = 16  # DFL bins per side (reg_max of Ultralytics/YOLOv9; reg_max+1 for DAMO-YOLO)
    anchor_offset: float = 0.5  # 0.5 = cell centres (Ultralytics, YOLOv9); 0.0 = corners (DAMO)
    end2end: bool = False  # NMS-free one-to-one head (YOLOv10, YOLO26)
    max_det: int = 300  # top-k of the NMS-free post-process
    nc: int = 80


@dataclass(frozen=True)
class TrainStructures:
    """Train-time structures present in a checkpoint (what reparam will remove/fuse)."""

    pgi_branch: bool = False
    rep_branches: int = 0  # count of multi-branch RepConv-like modules
    conv_bn: int = 0  # count of Conv+BN pairs that can be folded
    dfl: bool = False
    one_to_many_head: bool = False
    distillation_leftovers: bool = False
    scale_modules: int = 0  # DAMO-YOLO per-level Scale


@dataclass
class ModelInfo:
    """What edgekit learned about a checkpoint."""

    family: str  # registry name: "ultralytics", "yolov9", "damoyolo"
    variant: str  # e.g. "yolo11n", "yolov9-c", "gelan-c", "damoyolo-t"
    names: List[str]
    head: HeadSpec
    preprocess: PreprocessSpec = field(default_factory=PreprocessSpec)
    imgsz: Tuple[int, int] = (640, 640)  # (height, width) the model was trained at
    imgsz_recorded: bool = False  # the checkpoint (or its official config) says so; else 640 is a guess
    structures: TrainStructures = field(default_factory=TrainStructures)
    source: Optional[str] = None  # checkpoint file name
    source_sha256: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)  # family-specific facts (yaml, arch, ...)

    @property
    def nc(self) -> int:
        return len(self.names)


@dataclass
class LoadedModel:
    model: torch.nn.Module
    info: ModelInfo
