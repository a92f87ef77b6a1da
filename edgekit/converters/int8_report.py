"""What an INT8 build says about a backend: one line, from its ``BackendInt8`` report."""

from __future__ import annotations

from edgekit.bundle.int8_record import BackendInt8
from edgekit.calibration.fallback import describe
from edgekit.vocab import METRIC_LABELS


def summary_line(backend: str, report: BackendInt8) -> str:
    agreement = report.agreement
    det = agreement["detections"]
    cosines = [o["cosine"] for o in agreement["outputs"].values() if o["role"] == "boxes"]
    # an NMS-free model's only output is its top-k rows: compared as detections, not as a tensor
    cos = f"box cosine {min(cosines):.4f}" if cosines else "no box tensor (top-k rows only)"
    what = "detections" if det["mode"] == "detections" else "top-k candidates"
    ran = report.quantizer
    how = ", ".join(str(ran[k]) for k in ("preset", "method") if ran.get(k)) or ran.get("recipe", "")
    text = (
        f"{backend} int8 ({how}): {cos}, {what} match FP32 at rate "
        f"{det['match_rate']:.3f} ({det['found']}/{det['required']} found, {det['kept']}/"
        f"{det['required_actual']} kept) on "
        f"{agreement['images']} images ({agreement['images_are']})"
    )
    label_free = agreement.get("fidelity") or {}
    if label_free.get("map50_95") is not None:
        text += f", mAP50-95 against FP32's detections {label_free['map50_95']:.3f}"
    if report.map_drop_points is not None:
        what = METRIC_LABELS[report.val_metric or "bbox"]
        text += (
            f"; {what} mAP50-95 {report.map50_95_fp32:.4f} -> {report.map50_95_int8:.4f} "
            f"({report.map_drop_points:+.2f} points drop)"
        )
        if report.box_map50_95_int8 is not None:
            text += f", box {report.box_map50_95_fp32:.4f} -> {report.box_map50_95_int8:.4f}"
    control = ran.get("accuracy_control")
    if control:
        text += (
            f"; NNCF accuracy control (aim {control['max_drop_points']:.2f} points on "
            f"{control['validation_items']} images, {ran['fake_quantize_ops']} FakeQuantize ops left)"
        )
    last = report.rounds[-1]
    if last.float_layers or last.head_float:
        text += f"; {describe(last.head_float, len(last.float_layers))} kept float"
    return text
