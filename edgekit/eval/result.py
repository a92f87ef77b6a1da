"""The result of a COCO box evaluation, and its text table."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, List, Optional


def _fmt(value: Optional[float], digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


FRACTIONS = (  # the fields that must lie in [0, 1] (or be None)
    *("map50_95", "map50", "map75", "ap_small", "ap_medium", "ap_large", "ar100"),
    *("recall50", "recall50_small", "recall50_medium", "recall50_large"),
)


@dataclass(frozen=True)
class EvalResult:
    """COCO box metrics (IoU 0.50:0.95 unless named otherwise), as fractions in ``[0, 1]``.

    ``ap_small`` / ``ap_medium`` / ``ap_large`` use COCO's ground-truth area buckets
    (< 32², 32²-96², >= 96² px); a bucket (or class) without ground truth is ``None``.
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

    def __post_init__(self) -> None:
        for name in FRACTIONS:
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value} is not a fraction in [0, 1]")
        if set(self.per_class_ap) != set(self.per_class_ap50) or set(self.per_class_ap) != set(
            self.per_class_gt
        ):
            raise ValueError("the per-class tables do not name the same classes")

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (``None`` for undefined values)."""
        return asdict(self)

    def format_table(self, digits: int = 3) -> str:
        """The summary and per-class AP as a fixed-width text table."""
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
        lines += [f"{name:<10} {_fmt(value, digits):>8}" for name, value in summary]
        width = max([5, *(len(n) for n in self.per_class_ap)])
        lines += ["", f"{'class':<{width}} {'objects':>8} {'AP50-95':>8} {'AP50':>8}"]
        for name in self.per_class_ap:
            ap, ap50 = _fmt(self.per_class_ap[name], digits), _fmt(self.per_class_ap50[name], digits)
            lines.append(f"{name:<{width}} {self.per_class_gt[name]:>8} {ap:>8} {ap50:>8}")
        return "\n".join(lines)
