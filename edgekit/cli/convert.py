"""``edgekit convert``: checkpoint -> verified bundle for a target device."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import click

from edgekit.vocab import (
    BIAS_CORRECTIONS,
    CALIB_IMAGES,
    CALIBRATION_METHODS,
    DEFAULT_CONF,
    DEFAULT_IOU,
    DEFAULT_MAX_DET,
    HEADS,
    MAX_MAP_DROP,
    NNCF_PRESETS,
    PRECISIONS,
)


def parse_imgsz(value: Optional[str]) -> Optional[Tuple[int, int]]:
    """``640`` -> (640, 640); ``640x384`` (WIDTHxHEIGHT) -> (384, 640) as (height, width)."""
    if value is None:
        return None
    try:
        parts = [int(p) for p in value.lower().split("x")]
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected 640 or WIDTHxHEIGHT such as 640x384") from None
    if len(parts) == 1:
        return parts[0], parts[0]
    if len(parts) == 2:
        return parts[1], parts[0]
    raise click.BadParameter(f"{value!r}: expected 640 or WIDTHxHEIGHT such as 640x384")


@click.command("convert")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option(
    "--target", "-t", default="cpu", show_default=True, help="Device profile or alias (edgekit devices)."
)
@click.option("--imgsz", help="Input size: 640 or WIDTHxHEIGHT (e.g. 640x384 for 16:9 cameras).")
@click.option("--precision", type=click.Choice(PRECISIONS), help="Default: the target's.")
@click.option("--backend", help="Build only this backend (onnxruntime, openvino, tensorrt, tflite).")
@click.option("--opset", type=int, help="ONNX opset (default: the target's plan).")
@click.option("--dynamic", is_flag=True, help="Dynamic batch axis.")
@click.option(
    "--max-batch", type=int, help="With --dynamic: the largest batch a TensorRT engine takes (default 8)."
)
@click.option("--nms", is_flag=True, help="Put NMS in the graph (ONNX NonMaxSuppression, fixed max_det).")
@click.option(
    "--head",
    type=click.Choice(HEADS),
    help="YOLOv10 / YOLO26: export the NMS-free one-to-one head (default) or the one-to-many head "
    "with NMS (what Ultralytics' val scores).",
)
@click.option("--dfl", type=click.Choice(["fused", "host"]), help="DFL in the graph or on the host decoder.")
@click.option("--jetpack", help="JetPack release of a Jetson target.")
@click.option("--dla-core", type=int, help="DLA core of a Jetson target.")
@click.option("--arch", help="Architecture when the checkpoint does not carry it (e.g. damoyolo-t).")
@click.option(
    "--names",
    help="Class names for a checkpoint without them (DAMO-YOLO): a data.yaml, a .txt of one per "
    "line, or a,b,c.",
)
@click.option(
    "--conf", type=float, default=DEFAULT_CONF, show_default=True, help="Default confidence threshold."
)
@click.option("--iou", type=float, default=DEFAULT_IOU, show_default=True, help="Default NMS IoU threshold.")
@click.option(
    "--max-det", type=int, default=DEFAULT_MAX_DET, show_default=True, help="Detections per image at most."
)
@click.option("--int8", is_flag=True, help="Same as --precision int8 (needs --calib).")
@click.option(
    "--calib",
    type=click.Path(path_type=Path),
    help="INT8 calibration images: a folder, a video, a data.yaml or a COCO json.",
)
@click.option(
    "--calib-images", type=int, default=CALIB_IMAGES, show_default=True, help="Calibration images to use."
)
@click.option(
    "--allow-small-calib",
    is_flag=True,
    help="Calibrate on fewer than 32 readable images (INT8 scales from so few lose accuracy).",
)
@click.option(
    "--calib-method",
    type=click.Choice(CALIBRATION_METHODS),
    help="Calibration method (default: percentile for onnxruntime CPU models, minmax for TensorRT "
    "and for OpenVINO, whose NNCF ranges follow it).",
)
@click.option(
    "--bias-correction",
    type=click.Choice(BIAS_CORRECTIONS),
    help="After quantizing: NNCF's full (default) or fast bias correction, or none "
    "(onnxruntime: edgekit's own unless none).",
)
@click.option(
    "--silu-ranges/--no-silu-ranges",
    default=None,
    help="onnxruntime Q/DQ: tighten the ranges of SiLU inputs (default: on).",
)
@click.option(
    "--nncf-preset",
    type=click.Choice(NNCF_PRESETS),
    help="OpenVINO (NNCF): asymmetric activations (mixed, default) or symmetric (performance).",
)
@click.option("--keep-float", multiple=True, help="ONNX node to keep in float (repeatable).")
@click.option(
    "--val",
    type=click.Path(path_type=Path),
    help="Labelled set (data.yaml or COCO json): INT8 vs FP32 mAP at conversion, >= 500 images advised; "
    "two-head models (YOLOv10, YOLO26) without --head: both heads' mAP and speed.",
)
@click.option("--val-split", default="val", show_default=True, help="Split of --val's data.yaml.")
@click.option(
    "--quantize-head", is_flag=True, help="Quantize the decode tail too (naive; for comparisons only)."
)
@click.option(
    "--int8-io",
    is_flag=True,
    help="TFLite INT8: int8 input (and int8 outputs where quantized), parameters in the manifest.",
)
@click.option(
    "--max-map-drop",
    type=float,
    default=MAX_MAP_DROP,
    show_default=True,
    help="INT8 bound with --val (mAP points).",
)
@click.option(
    "--allow-accuracy-loss",
    is_flag=True,
    help="Write the INT8 bundle even when it misses the accuracy bounds (reported in the manifest).",
)
@click.option(
    "--no-int8-fallback",
    is_flag=True,
    help="Quantize once: on a missed INT8 bound, report it instead of keeping sensitive layers float.",
)
@click.option(
    "--no-host-io",
    is_flag=True,
    help="onnxruntime model: float input and the plain outputs (default: uint8 pixels in, "
    "each anchor's best score and class out).",
)
@click.option("--no-simplify", is_flag=True, help="Skip onnxslim.")
@click.option(
    "--verbose", "-v", is_flag=True, help="Show the warnings and logs of torch, onnxruntime, OpenVINO, LiteRT"
)
@click.option("--no-verify", is_flag=True, help="Skip the self-check against PyTorch (not recommended).")
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Bundle folder (default: NAME-TARGET.edgekit)."
)
def convert_cmd(
    checkpoint: Path,
    imgsz: Optional[str],
    no_simplify: bool,
    no_verify: bool,
    no_host_io: bool,
    no_int8_fallback: bool,
    int8: bool,
    **options,
) -> None:
    """Convert CHECKPOINT (.pt/.pth) into a bundle for --target."""
    from edgekit.converters import convert

    if int8:
        if options["precision"] not in (None, "int8"):
            raise click.BadParameter(f"--int8 contradicts --precision {options['precision']}")
        options["precision"] = "int8"
    convert(
        checkpoint,
        log=click.echo,
        imgsz=parse_imgsz(imgsz),
        simplify=not no_simplify,
        verify=not no_verify,
        host_io=not no_host_io,
        int8_fallback=not no_int8_fallback,
        nms=True if options.pop("nms") else None,
        **options,
    )
