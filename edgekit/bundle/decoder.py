"""The manifest's ``decoder`` section: which host decoder reads the outputs, its defaults, and
what the rows of another task carry (mask coefficients, keypoints, angles)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from edgekit.bundle import _fields as F
from edgekit.vocab import DEFAULT_CONF, DEFAULT_IOU, DEFAULT_MAX_DET, TASKS

DECODERS = ("nms", "nms-free", "host-dfl", "graph-nms")


@dataclass(frozen=True)
class DecoderSpec:
    type: str
    conf_threshold: float = DEFAULT_CONF
    iou_threshold: float = DEFAULT_IOU
    max_det: int = DEFAULT_MAX_DET
    agnostic: bool = False
    strides: Tuple[int, ...] = ()  # host-dfl: to rebuild anchors
    bins: int = 1  # host-dfl: DFL bins per side
    anchor_offset: float = 0.5
    task: str = "detect"  # what the decoded rows carry besides boxes (edgekit.vocab.TASKS)
    masks: int = 0  # segment: mask coefficients per detection
    keypoints: Tuple[int, int] = (0, 0)  # pose: keypoints per detection, values per keypoint (2 or 3)

    @classmethod
    def from_dict(cls, d: Dict[str, Any], path: str) -> DecoderSpec:
        F.known_fields(d, path, cls)
        kind = F.string(d, "type", path, choices=DECODERS)
        strides = tuple(int(s) for s in F.int_list(d, "strides", path)) if "strides" in d else ()
        spec = cls(
            kind,
            F.number(d, "conf_threshold", path, default=DEFAULT_CONF),
            F.number(d, "iou_threshold", path, default=DEFAULT_IOU),
            F.integer(d, "max_det", path, minimum=1, default=DEFAULT_MAX_DET),
            F.boolean(d, "agnostic", path),
            strides,
            F.integer(d, "bins", path, minimum=1, default=1),
            F.number(d, "anchor_offset", path, default=0.5),
            F.string(d, "task", path, choices=TASKS) if "task" in d else "detect",
            F.integer(d, "masks", path, default=0),
            _pair(F.int_list(d, "keypoints", path)) if "keypoints" in d else (0, 0),
        )
        for key in ("conf_threshold", "iou_threshold"):
            if not 0.0 <= getattr(spec, key) <= 1.0:
                raise F.FieldError(f"'{path}{key}' must be within 0..1")
        if kind == "host-dfl" and not strides:
            raise F.FieldError(f"'{path}strides' is required by the host-dfl decoder")
        if (spec.task == "segment") != (spec.masks > 0) or (spec.task == "pose") != (spec.keypoints[0] > 0):
            raise F.FieldError(f"'{path}task' {spec.task} does not match masks / keypoints")
        return spec


def _pair(values: List[Optional[int]]) -> Tuple[int, int]:
    if len(values) != 2:
        raise F.FieldError(f"'decoder.keypoints' must be [keypoints, values per keypoint], got {values}")
    return int(values[0] or 0), int(values[1] or 0)
