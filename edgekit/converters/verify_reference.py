"""The original model's side of a bundle check: its preprocessing, its train-form forward and the
family's reference decode (``edgekit.contract.decode``), in original-image pixels.

For the task models the reference also decodes what the task adds: keypoints (compared as pixel
points of each matched detection), instance masks (the host's mask decoding run on the
reference's own coefficients and prototypes, so an exported or misread coefficient or prototype
shows as a mask that differs) and oriented boxes (kept by rotated NMS, compared by the box around
each; the rotated boxes themselves are compared as corners by the tensor check).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional, Tuple

import numpy as np

from edgekit._optional import require
from edgekit.bundle import Manifest
from edgekit.contract.decode import decode, decode_task, topk_end2end
from edgekit.contract.model import LoadedModel
from edgekit.decoding import DecodeOptions
from edgekit.decoding.masks import MaskDecoder
from edgekit.decoding.nms import batched_nms
from edgekit.decoding.preprocess import Geometry
from edgekit.decoding.rotated import enclosing_xyxy, nms_rotated
from edgekit.decoding.task_decoders import points_to_original, rboxes_to_original
from edgekit.verify import Dets
from edgekit.verify.reference_input import reference_input


class Reference:
    """The original model's view of an image: the family's preprocessing, the train-form model and
    the family's reference decode, in original-image pixels."""

    def __init__(self, loaded: LoadedModel, manifest: Manifest) -> None:
        self.model, self.info, self.manifest = loaded.model, loaded.info, manifest
        self.head = replace(loaded.info.head, max_det=manifest.decoder.max_det)

    def input(self, image_rgb: np.ndarray) -> Tuple[np.ndarray, Geometry]:
        pre = self.info.preprocess
        size = (self.manifest.input.height, self.manifest.input.width)
        x, (gx, gy, px, py) = reference_input(
            image_rgb, size, pre.resize, pre.pad_value, pre.color, pre.scale
        )
        return x, Geometry(gx, gy, px, py, image_rgb.shape[:2])

    def _decoded(self, x: np.ndarray) -> Tuple[Any, Any, Optional[Any], Optional[np.ndarray]]:
        """(boxes (N, 4) xyxy, or (N, 5) xywhr for OBB; scores (N, nc); the task's values per anchor:
        keypoints (N, K * dims) or mask coefficients (N, nm); a segmentation's prototypes (nm, Hp, Wp))."""
        torch = require("torch")
        with torch.no_grad():
            raw = self.model(torch.from_numpy(x))
        if self.head.task == "detect":
            boxes, scores = decode(raw, self.head)
            return boxes[0], scores[0], None, None
        out = decode_task(raw, self.head)
        if self.head.task == "obb":
            return torch.cat((out["xywh"], out["angle"]), -1)[0], out["scores"][0], None, None
        if self.head.task == "segment":
            return out["boxes"][0], out["scores"][0], out["masks"][0], out["proto"][0].numpy()
        return out["boxes"][0], out["scores"][0], out["keypoints"][0], None

    def detections(self, x: np.ndarray, geometry: Geometry, opts: DecodeOptions) -> Dets:
        """The reference's detections: top-k (NMS-free heads) or best class + class-aware NMS (rotated
        for OBB), each carrying its anchor's score for every class (a class near-tie is no difference)."""
        boxes, scores, values, protos = self._decoded(x)
        if self.manifest.decoder.type == "nms-free":
            return self._topk(boxes, scores, values, geometry, opts, protos)
        boxes, per_class = boxes.numpy(), scores.numpy()  # (N, 4|5), (N, nc)
        best = per_class.max(1)
        idx = np.flatnonzero(best > opts.conf)
        cls = per_class[idx].argmax(1)
        candidates = np.ascontiguousarray(boxes[idx])
        if self.head.task == "obb":
            kept = nms_rotated(candidates, best[idx], opts.iou, cls)[: opts.max_det]
        else:
            kept = batched_nms(candidates, best[idx], cls, opts.iou, max_det=opts.max_det)
        keep = idx[kept]
        kept_values = values.numpy()[keep] if values is not None else None
        classes = per_class[keep].argmax(1)
        return self._dets(boxes[keep], best[keep], classes, kept_values, geometry, per_class[keep], protos)

    def _topk(
        self,
        boxes: Any,
        scores: Any,
        values: Any,
        geometry: Geometry,
        opts: DecodeOptions,
        protos: Optional[np.ndarray] = None,
    ) -> Dets:
        rotated = self.head.task == "obb"
        extra = boxes[None, :, 4:] if rotated else (values[None] if values is not None else None)
        rows = topk_end2end(boxes[None, :, :4], scores[None], self.head.max_det, extra).numpy()[0]
        rows = rows[rows[:, 4] > opts.conf][: opts.max_det]
        box = np.concatenate([rows[:, :4], rows[:, 6:7]], 1) if rotated else rows[:, :4]
        kept_values = rows[:, 6:] if values is not None else None
        classes = np.round(rows[:, 5]).astype(np.int64)
        return self._dets(box, rows[:, 4], classes, kept_values, geometry, protos=protos)

    def _dets(
        self,
        boxes: np.ndarray,
        scores: np.ndarray,
        classes: np.ndarray,
        values: Optional[np.ndarray],
        geometry: Geometry,
        class_scores: Optional[np.ndarray] = None,
        protos: Optional[np.ndarray] = None,
    ) -> Dets:
        if self.head.task == "obb":
            xyxy = enclosing_xyxy(rboxes_to_original(boxes, geometry))
        else:
            xyxy = geometry.to_original(np.asarray(boxes, np.float32))
        points = masks = None
        if values is not None and self.head.task == "pose":
            k, dims = self.head.keypoints
            xy = np.asarray(values, np.float32).reshape(-1, k, dims)[..., :2]
            points = points_to_original(xy, geometry).reshape(len(xy), 2 * k).astype(np.float64)  # 0 rows too
        elif values is not None:  # the host's mask decoding, on the reference's own tensors
            size = (self.manifest.input.height, self.manifest.input.width)
            masks = MaskDecoder(protos, size).image_masks(np.asarray(values, np.float32), xyxy, geometry)
        return Dets(
            xyxy.astype(np.float64),
            np.asarray(scores, np.float64),
            np.asarray(classes, np.int64),
            None if class_scores is None else np.asarray(class_scores, np.float64),
            points,
            masks,
        )
