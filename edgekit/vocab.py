"""Every vocabulary and shared default of edgekit, in one place.

The CLI's ``click.Choice`` lists, the plan's validation, the manifest reader and the converters all
read these names; a value is spelled here once. Standard library only: the on-device side imports
it on Python >= 3.8. Backend names are not here: each backend is described by its own file in
``edgekit.backends``.
"""

from __future__ import annotations

from typing import Dict, Tuple

# --- tasks ------------------------------------------------------------------------------------
#: what a model predicts: boxes, boxes + instance masks, boxes + keypoints, oriented boxes
TASKS: Tuple[str, ...] = ("detect", "segment", "pose", "obb")
#: how raw keypoints become pixels: "v8" (``(2 * raw + anchor - 0.5) * stride``, Ultralytics' Pose) or
#: "v26" (``(raw + anchor) * stride``, Pose26); visibility is always a sigmoid
KEYPOINT_DECODES: Tuple[str, ...] = ("v8", "v26")
#: how a raw angle logit becomes radians: "sigmoid" (``(sigmoid(raw) - 0.25) * pi``, Ultralytics' OBB)
#: or "raw" (the value itself, OBB26)
ANGLE_DECODES: Tuple[str, ...] = ("sigmoid", "raw")

# --- precisions -------------------------------------------------------------------------------
#: what a conversion plan can build; bf16 is OpenVINO's on x86 CPUs with AVX512_BF16 or AMX: the
#: FP32 IR, computed in bf16 (the runtime's precision hint, recorded as the artifact's precision)
PRECISIONS: Tuple[str, ...] = ("fp32", "fp16", "bf16", "int8")
#: what a manifest artifact may record: a plan precision, or "mixed" (INT8 with layers kept float)
ARTIFACT_PRECISIONS: Tuple[str, ...] = (*PRECISIONS, "mixed")
#: what ``edgekit benchmark --precisions`` may time
BENCH_PRECISIONS: Tuple[str, ...] = PRECISIONS
#: the precisions the verification module has a bound for
VERIFY_PRECISIONS: Tuple[str, ...] = PRECISIONS

# --- the exported head ------------------------------------------------------------------------
#: where the distribution focal loss expectation runs: in the graph, on the host, or nowhere
#: (a head without DFL)
DFL_MODES: Tuple[str, ...] = ("fused", "host", "none")
#: the layout of the exported graph's outputs: decoded boxes and scores per level ("split") or
#: concatenated ("concat"), the NMS-free top-k ("end2end"), or with NMS in the graph ("nms")
OUTPUT_FORMS: Tuple[str, ...] = ("split", "concat", "end2end", "nms")
#: the output forms of a decoded (not NMS-free, no NMS) head, as reparameterization writes it
DECODED_FORMS: Tuple[str, ...] = ("split", "concat")
#: which branch of a dual-head model (YOLOv10, YOLO26) is exported: the NMS-free one-to-one head
#: (the default) or the one-to-many head with NMS (what Ultralytics' ``val`` scores)
HEADS: Tuple[str, ...] = ("one2one", "one2many")
#: where non-maximum suppression runs
NMS_PLACEMENTS: Tuple[str, ...] = ("host", "graph", "none")

# --- INT8 -------------------------------------------------------------------------------------
#: how activation ranges are estimated from the calibration images
CALIBRATION_METHODS: Tuple[str, ...] = ("minmax", "entropy", "percentile")
#: bias correction after quantization: NNCF's full or fast one (onnxruntime: edgekit's own for
#: both), or none
BIAS_CORRECTIONS: Tuple[str, ...] = ("full", "fast", "none")
#: NNCF presets: asymmetric activations ("mixed": SiLU outputs are one-sided) or symmetric
#: ("performance")
NNCF_PRESETS: Tuple[str, ...] = ("mixed", "performance")
#: calibration images read by default (more add little)
CALIB_IMAGES = 300
#: fewer readable calibration images than this draw a warning
CALIB_RECOMMENDED = 100
#: INT8 scales from fewer readable images are noise: refused unless the user allows it
MIN_CALIB_IMAGES = 32
#: the largest mAP50-95 loss (points) an INT8 model may show against FP32 with ``--val``
MAX_MAP_DROP = 0.5

# --- decoding defaults ------------------------------------------------------------------------
#: what a bundle's decoder uses unless the user says otherwise (written into the manifest)
DEFAULT_CONF = 0.25
DEFAULT_IOU = 0.45
DEFAULT_MAX_DET = 300

# --- evaluation -------------------------------------------------------------------------------
#: how ``edgekit val`` decodes for scoring (``edgekit.eval.validate.PROTOCOLS`` holds the settings)
EVAL_PROTOCOLS: Tuple[str, ...] = ("coco", "ultralytics")
#: what an mAP is computed on (COCO's ``iouType``, plus polygon-IoU oriented boxes), and its name
IOU_TYPES: Tuple[str, ...] = ("bbox", "segm", "keypoints", "obb")
METRIC_LABELS: Dict[str, str] = {"bbox": "box", "segm": "mask", "keypoints": "pose", "obb": "OBB"}
#: the iou type of each task's own metric
TASK_IOU_TYPE: Dict[str, str] = {"segment": "segm", "pose": "keypoints", "obb": "obb"}

# --- files ------------------------------------------------------------------------------------
#: image files every command reads (predict, val, --calib, streams); lower case
IMAGE_SUFFIXES: Tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: video files ``--calib`` samples frames from
VIDEO_SUFFIXES: Tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
