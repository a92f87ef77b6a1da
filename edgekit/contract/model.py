"""The model contract: what a family tells the rest of edgekit about a detector.

A family (``edgekit.models``) turns a safely-read checkpoint (``edgekit.loading``) into a
``torch.nn.Module`` built from edgekit's own code plus a ``ModelInfo`` describing it.

Raw output convention (shared by every family, consumed by reparam and the converters):
``model(x)`` in eval mode returns ``RawHeadOutput``: per detection level, the box
regression logits ``(B, 4 * bins, H, W)`` (``bins == 1`` for heads without DFL, which
then hold the four ltrb distances in grid units) and the class logits ``(B, nc, H, W)``
before the sigmoid. ``edgekit.contract.decode`` turns them into boxes and scores.

Query heads (``HeadSpec.queries > 0``: RT-DETR) have no levels: ``model(x)`` returns one box per
query ``(B, Q, 4)`` as x1, y1, x2, y2 in input pixels and its class logits ``(B, Q, nc)``.

Task heads (``HeadSpec.task`` other than ``"detect"``) return a third element, a dict of
per-task raw tensors (``TaskRawOutput``): ``segment``: ``{"masks": [per level (B, nm, H, W)
mask coefficients], "proto": (B, nm, Hp, Wp) prototypes}``; ``pose``: ``{"keypoints": [per level
(B, nk, H, W) raw keypoints]}``, channel ``k * dims + d`` (x, y[, visibility]); ``obb``:
``{"angle": [per level (B, 1, H, W) raw angle logits]}``.

This module imports neither torch nor numpy: the on-device side may read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from edgekit.vocab import ANGLE_DECODES, KEYPOINT_DECODES, TASKS

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
    task: str = "detect"  # a value of edgekit.vocab.TASKS
    masks: int = 0  # mask coefficients per anchor (segment)
    keypoints: Tuple[int, int] = (0, 0)  # (keypoints, dims per keypoint: 2 = x, y; 3 = x, y, visibility)
    keypoint_decode: str = ""  # pose: a value of edgekit.vocab.KEYPOINT_DECODES
    angle_decode: str = ""  # obb: a value of edgekit.vocab.ANGLE_DECODES
    queries: int = 0  # object queries of a DETR-style head (RT-DETR); 0 = a dense head on levels

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task '{self.task}' (known: {', '.join(TASKS)})")
        checks = (
            (self.task == "segment", self.masks > 0, "a segment head has mask coefficients (masks > 0)"),
            (
                self.task == "pose",
                self.keypoints[0] > 0 and self.keypoints[1] in (2, 3),
                "keypoints (n, 2|3)",
            ),
            (self.task == "pose", self.keypoint_decode in KEYPOINT_DECODES, "keypoint_decode"),
            (self.task == "obb", self.angle_decode in ANGLE_DECODES, "angle_decode"),
            (self.queries > 0, self.task == "detect" and self.end2end, "queries (an NMS-free detect head)"),
        )
        for applies, ok, what in checks:
            if applies and not ok:
                raise ValueError(f"HeadSpec(task={self.task!r}): bad {what}")

    @property
    def nk(self) -> int:
        """Raw keypoint channels per anchor (keypoints x dims)."""
        return self.keypoints[0] * self.keypoints[1]


@dataclass(frozen=True)
class TrainStructures:
    """Train-time structures present in a checkpoint (what reparam will remove/fuse)."""

    pgi_branch: bool = False
    rep_branches: int = 0  # count of multi-branch RepConv-like modules
    conv_bn: int = 0  # count of Conv+BN pairs that can be folded
    dfl: bool = False
    one_to_many_head: bool = False
    train_only_head: int = 0  # head modules only the training loss reads (Pose26 flow model, ...)
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

    @property
    def task(self) -> str:
        """What the model predicts (``HeadSpec.task``: detect, segment, pose, obb)."""
        return self.head.task


@dataclass
class LoadedModel:
    model: torch.nn.Module
    info: ModelInfo
