"""What an INT8 build reports: one line per backend, the figures of each fallback round."""

from __future__ import annotations

from typing import Any, Dict, List


def describe(head: bool, layers: int) -> str:
    """What a fallback round keeps float, for messages: ``the head's branches + 4 layers``."""
    if not head:
        return f"{layers} layers"
    return "the head's branches" + (f" + {layers} layers" if layers else "")


def map_drop(r: Dict[str, Any]) -> float:
    return float(r.get("map_drop_points", 0.0))


def round_record(
    float_layers: List[str], head_float: bool, misses: List[str], figures: Dict[str, Any]
) -> Dict[str, Any]:
    """One fallback round in the report: what it kept float, what it missed, what it measured."""
    record = {
        "float_layers": list(float_layers),
        "head_float": head_float,
        "misses": misses,
        "match_rate": figures["agreement"]["match_rate"],
    }
    if "map_drop_points" in figures:
        record["map_drop_points"] = figures["map_drop_points"]
    return record


def summary_line(backend: str, report: Dict[str, Any]) -> str:
    agreement = report["agreement"]
    det = agreement["detections"]
    cosines = [o["cosine"] for o in agreement["outputs"].values() if o["role"] == "boxes"]
    # an NMS-free model's only output is its top-k rows: compared as detections, not as a tensor
    cos = f"box cosine {min(cosines):.4f}" if cosines else "no box tensor (top-k rows only)"
    what = "detections" if det["mode"] == "detections" else "top-k candidates"
    how = ", ".join(str(report[k]) for k in ("preset", "method") if report.get(k)) or report.get("recipe", "")
    text = (
        f"{backend} int8 ({how}): {cos}, {what} match FP32 at rate "
        f"{det['match_rate']:.3f} ({det['found']}/{det['required']} found, {det['kept']}/"
        f"{det['required_actual']} kept) on "
        f"{agreement['images']} images ({agreement['images_are']})"
    )
    if "map_drop_points" in report:
        text += (
            f"; mAP50-95 {report['map50_95_fp32']:.4f} -> {report['map50_95_int8']:.4f} "
            f"({report['map_drop_points']:+.2f} points drop)"
        )
    last = report["rounds"][-1]
    if last["float_layers"] or last.get("head_float"):
        text += f"; {describe(last.get('head_float', False), len(last['float_layers']))} kept float"
    return text
