"""onnxruntime's compiled ``NonMaxSuppression``, used by the decoders when onnxruntime imports.

On a device that runs an onnxruntime bundle it is already loaded, and its greedy NMS is an
order of magnitude faster than OpenCV's on crowded outputs (0.1 vs 1.3 ms for 1,500 boxes
here; ``benchmarks/runtime_overhead.py``). The one-node model below needs no ``onnx`` package:
it is stored serialized; ``tests/decoding/test_nms.py`` rebuilds it with ``onnx.helper`` and
checks the bytes.
"""

from __future__ import annotations

import base64
import importlib.util
from typing import Any, Optional

import numpy as np

# NonMaxSuppression (opset 11): boxes [1, n, 4], scores [1, 1, n], max_per_class [1], iou [1] ->
# selected [k, 3]; score_threshold = -1 is an initializer. The kernel stops selecting once
# max_per_class boxes are kept: with the classes offset apart that is the caller's max_det.
MODEL = base64.b64decode(
    "CAYSB2VkZ2VraXQ6+wEKSwoFYm94ZXMKBnNjb3JlcwoNbWF4X3Blcl9jbGFzcwoDaW91CgltaW5fc2NvcmUSCHNlbGVjdGVkIhFOb25NYXhT"
    "dXBwcmVzc2lvbhILZWRnZWtpdF9ubXMqFQgBEAFCCW1pbl9zY29yZUoEAACAv1ocCgVib3hlcxITChEIARINCgIIAQoDEgFuCgIIBFodCgZz"
    "Y29yZXMSEwoRCAESDQoCCAEKAggBCgMSAW5aGwoNbWF4X3Blcl9jbGFzcxIKCggIBxIECgIIAVoRCgNpb3USCgoICAESBAoCCAFiGwoIc2Vs"
    "ZWN0ZWQSDwoNCAcSCQoDEgFrCgIIA0IECgAQCw=="
)


class OrtNms:
    """Single-class greedy NMS on onnxruntime's CPU kernel (one thread)."""

    def __init__(self) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(MODEL, sess_options=opts, providers=["CPUExecutionProvider"])

    def __call__(
        self, boxes: np.ndarray, scores: np.ndarray, iou: float, max_keep: Optional[int] = None
    ) -> np.ndarray:
        """Kept indices of (N, 4) corner boxes, in selection order (descending score), the first
        ``max_keep`` only (greedy selection stops there: the later ones cannot change them)."""
        feed = {
            "boxes": np.ascontiguousarray(boxes, dtype=np.float32)[None],
            "scores": np.ascontiguousarray(scores, dtype=np.float32)[None, None],
            "max_per_class": np.array([2**31 - 1 if max_keep is None else max_keep], dtype=np.int64),
            "iou": np.array([iou], dtype=np.float32),
        }
        return self.session.run(None, feed)[0][:, 2]


_INSTANCE: Any = None


def ort_nms() -> Optional[OrtNms]:
    """The shared instance, or None where onnxruntime is not installed (created on first use)."""
    global _INSTANCE
    if _INSTANCE is None:
        _INSTANCE = OrtNms() if importlib.util.find_spec("onnxruntime") is not None else False
    return _INSTANCE or None
