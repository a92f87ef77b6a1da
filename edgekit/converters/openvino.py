"""ONNX -> OpenVINO IR (``model.xml`` + ``model.bin``): FP32, or FP16 with compressed weights."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Tuple

from edgekit._optional import require
from edgekit.errors import ConversionError, first_line

IR_XML = "model.xml"
IR_BIN = "model.bin"
#: plan precision -> IR precision; int8 (NNCF) comes with the quantizers
IR_PRECISIONS = ("fp32", "fp16", "bf16")  # bf16: the FP32 IR, computed in bf16 (the runtime's hint)


def ir_precision(plan_precision: str) -> str:
    """The IR precision written for a plan precision (refuses what is not implemented yet)."""
    if plan_precision not in IR_PRECISIONS:
        raise ConversionError(
            f"OpenVINO {plan_precision} IR is not implemented yet; available: {', '.join(IR_PRECISIONS)}"
        )
    return plan_precision


def write_ir(onnx_path: Path, out_dir: Path, precision: str = "fp32") -> Tuple[str, str]:
    """Convert ``onnx_path`` to IR in ``out_dir``; returns the (xml, bin) file names.

    ``fp16`` stores the weights as FP16 (``compress_to_fp16``); the CPU plugin decompresses them
    and computes at the precision hint the runtime sets.
    """
    ov = require("openvino", "openvino")
    precision = ir_precision(precision)
    try:
        model = ov.convert_model(str(onnx_path))
        ov.save_model(model, str(Path(out_dir) / IR_XML), compress_to_fp16=precision == "fp16")
    except Exception as exc:  # noqa: BLE001 - OpenVINO raises its own exception types
        message = first_line(exc)
        raise ConversionError(f"OpenVINO cannot convert {onnx_path.name}: {message}") from None
    return IR_XML, IR_BIN


def write_artifact(
    writer: Any, onnx_path: Path, backend: str, precision: str, say: Any, module: Any, sample: Any
) -> Any:
    """The OpenVINO backend's artifact writer (``Backend.writer``): the IR beside the ONNX."""
    from edgekit import progress

    started = time.perf_counter()
    with progress.step(f"writing the OpenVINO {precision} IR"):
        xml, weights = write_ir(onnx_path, writer.dir, precision)
    size = (writer.dir / weights).stat().st_size
    say(
        f"wrote OpenVINO {precision} IR in {time.perf_counter() - started:.1f}s ({size / 1e6:.2f} MB weights)"
    )
    return writer.artifact(xml, backend, precision, extra=[weights])
