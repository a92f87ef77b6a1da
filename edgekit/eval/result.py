"""The result of a COCO evaluation (boxes, masks, keypoints or oriented boxes), and its text table."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

from edgekit.vocab import IOU_TYPES, METRIC_LABELS, TASK_IOU_TYPE


def _fmt(value: Optional[float], digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


FRACTIONS = (  # the fields that must lie in [0, 1] (or be None)
    *("map50_95", "map50", "map75", "ap_small", "ap_medium", "ap_large", "ar100"),
    *("recall50", "recall50_small", "recall50_medium", "recall50_large"),
)


@dataclass(frozen=True)
class EvalResult:
    """COCO metrics (IoU 0.50:0.95 unless named otherwise), as fractions in ``[0, 1]``.

    ``iou_type`` says what they measure: "bbox" (boxes), "segm" (masks), "keypoints" (OKS, with
    the ``kpt_sigmas`` used) or "obb" (rotated boxes). ``ap_small`` / ``ap_medium`` / ``ap_large``
    use COCO's ground-truth area buckets (< 32², 32²-96², >= 96² px); a bucket (or class) without
    ground truth, or one the iou type has not (keypoints: small; obb: all three), is ``None``.
    For a model of another ``task`` ("segment", "pose", "obb"), the box result carries the
    task's own in ``task_result``; ``headline`` names the figure that sums the model up.
    """

    map50_95: float
    map50: float
    map75: float
    ap_small: Optional[float]
    ap_medium: Optional[float]
    ap_large: Optional[float]
    ar100: float  # recall at up to max_dets detections per image
    per_class_ap: Dict[str, Optional[float]]  # AP50-95 per class name
    per_class_ap50: Dict[str, Optional[float]]
    per_class_gt: Dict[str, int]  # ground-truth objects per class
    n_images: int
    n_detections: int
    n_gt: int
    max_dets: int = 100
    # recall at IoU 0.5 with up to max_dets detections per image (class mean, as ar100), overall
    # and per COCO area bucket: pass only the detections above a confidence threshold to get the
    # recall at that operating point
    recall50: float = 0.0
    recall50_small: Optional[float] = None
    recall50_medium: Optional[float] = None
    recall50_large: Optional[float] = None
    iou_type: str = "bbox"
    kpt_sigmas: Optional[Tuple[float, ...]] = None  # keypoints: the OKS sigma of each keypoint
    task: str = "detect"
    task_result: Optional[EvalResult] = None  # the task's own metric (mask / pose / OBB mAP)

    def __post_init__(self) -> None:
        if self.iou_type not in IOU_TYPES:
            raise ValueError(f"unknown iou_type {self.iou_type!r}; choose one of {', '.join(IOU_TYPES)}")
        if self.task not in ("detect", *TASK_IOU_TYPE):
            raise ValueError(f"unknown task {self.task!r}; choose one of detect, {', '.join(TASK_IOU_TYPE)}")
        want = TASK_IOU_TYPE.get(self.task)
        if (self.task_result is None) != (want is None) or (want and self.task_result.iou_type != want):
            raise ValueError(f"a {self.task} result needs a task_result of iou type {want}")
        for name in FRACTIONS:
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value} is not a fraction in [0, 1]")
        if set(self.per_class_ap) != set(self.per_class_ap50) or set(self.per_class_ap) != set(
            self.per_class_gt
        ):
            raise ValueError("the per-class tables do not name the same classes")

    @property
    def headline(self) -> Tuple[str, float]:
        """The figure a model of this task is judged by: box / mask / pose mAP50-95, OBB mAP50."""
        if self.task_result is not None:
            return self.task_result.headline
        if self.iou_type == "obb":
            return "OBB mAP50", self.map50
        return f"{METRIC_LABELS[self.iou_type]} mAP50-95", self.map50_95

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (``None`` for undefined values)."""
        return asdict(self)

    def format_table(self, digits: int = 3) -> str:
        """The summary and per-class AP as a fixed-width text table (the task's table after it)."""
        table = self._table(digits)
        if self.task_result is not None:
            table += "\n\n" + self.task_result._table(digits)
        return table

    def _table(self, digits: int) -> str:
        summary = [
            ("mAP50-95", self.map50_95),
            ("mAP50", self.map50),
            ("mAP75", self.map75),
            ("AP small", self.ap_small),
            ("AP medium", self.ap_medium),
            ("AP large", self.ap_large),
            (f"AR@{self.max_dets}", self.ar100),
            ("recall@.5", self.recall50),
        ]
        lines: List[str] = [
            f"images {self.n_images}  objects {self.n_gt}  detections {self.n_detections}",
            "",
        ]
        if self.iou_type != "bbox" or self.task_result is not None:
            lines.insert(0, f"{METRIC_LABELS[self.iou_type]} ({self.iou_type})")
        lines += [f"{name:<10} {_fmt(value, digits):>8}" for name, value in summary]
        width = max([5, *(len(n) for n in self.per_class_ap)])
        lines += ["", f"{'class':<{width}} {'objects':>8} {'AP50-95':>8} {'AP50':>8}"]
        for name in self.per_class_ap:
            ap, ap50 = _fmt(self.per_class_ap[name], digits), _fmt(self.per_class_ap50[name], digits)
            lines.append(f"{name:<{width}} {self.per_class_gt[name]:>8} {ap:>8} {ap50:>8}")
        return "\n".join(lines)
