"""Verification, defined once for the whole project (numpy only: it runs on a device too).

- ``metrics``: tensor metrics (max abs / rel error, cosine, SNR);
- ``bounds``: one ``Bounds`` per precision (FP32, FP16, BF16, INT8), by what an output means;
- ``tensors``: per-output comparison by manifest role (``check_output``);
- ``detections``: the one detection matcher, with top-k candidates when detections are too few;
- ``reference_input``: the family's preprocessing, written plainly, to check a bundle's.

Reparameterization passes, every exported artifact, INT8 rounds, TensorRT engines and
``edgekit compare`` all compare through these; no other module compares outputs.
"""

from edgekit.verify.bounds import (
    BF16,
    BOUNDS,
    FLOAT_NOISE_FACTOR,
    FP16,
    FP32,
    INT8,
    Bounds,
    bounds_for,
    float_noise,
)
from edgekit.verify.detections import (
    CANDIDATES,
    MIN_DETECTIONS,
    VERIFY_CONF,
    VERIFY_IOU,
    VERIFY_MAX_DET,
    Dets,
    agreement,
    box_iou,
    match,
    summarize,
)
from edgekit.verify.metrics import (
    SNR_CAP_DB,
    TOLERANCE,
    as_array,
    assert_equivalent,
    compare_outputs,
    cosine_similarity,
    is_equivalent,
    max_abs_error,
    max_rel_error,
    snr_db,
)
from edgekit.verify.tensors import BOX_ROLES, SCORE_ROLES, OutputCheck, check_output, check_outputs, merge

__all__ = [
    "BF16",
    "BOUNDS",
    "BOX_ROLES",
    "CANDIDATES",
    "SCORE_ROLES",
    "FLOAT_NOISE_FACTOR",
    "float_noise",
    "VERIFY_CONF",
    "VERIFY_IOU",
    "VERIFY_MAX_DET",
    "agreement",
    "FP16",
    "FP32",
    "INT8",
    "MIN_DETECTIONS",
    "SNR_CAP_DB",
    "TOLERANCE",
    "Bounds",
    "Dets",
    "OutputCheck",
    "as_array",
    "assert_equivalent",
    "bounds_for",
    "box_iou",
    "check_output",
    "check_outputs",
    "compare_outputs",
    "cosine_similarity",
    "is_equivalent",
    "match",
    "max_abs_error",
    "max_rel_error",
    "merge",
    "snr_db",
    "summarize",
]
