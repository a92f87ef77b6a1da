"""Decoders of the task models: instance masks, keypoints, oriented boxes on top of the boxes.

Chosen by ``make_decoder`` when ``manifest.decoder.task`` is not ``detect``. The NMS form reads
the per-anchor outputs by role (``edgekit.reparam.task_heads``), keeps candidates as detection
does (class-aware NMS; rotated NMS by probabilistic IoU for OBB), then gathers the kept anchors'
task values: masks are computed for the kept detections only (``MaskDecoder``), keypoints and
rotated boxes mapped back through the letterbox. The NMS-free form reads the top-k rows.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from edgekit.bundle.manifest import Manifest
from edgekit.decoding.decoders import (
    DecodeOptions,
    End2EndDecoder,
    NmsDecoder,
    candidates,
)
from edgekit.decoding.detections import Detections
from edgekit.decoding.masks import MaskDecoder
from edgekit.decoding.nms import batched_nms
from edgekit.decoding.preprocess import Geometry
from edgekit.decoding.rotated import enclosing_xyxy, nms_rotated, regularize


def points_to_original(xy: np.ndarray, geo: Geometry) -> np.ndarray:
    """(..., 2) input-pixel points in the original image, clipped to it."""
    h, w = geo.shape
    out = (xy - np.array((geo.pad_x, geo.pad_y), np.float32)) / np.array((geo.gain_x, geo.gain_y), np.float32)
    return np.clip(out, 0, np.array((w, h), np.float32)).astype(np.float32)


def rboxes_to_original(xywhr: np.ndarray, geo: Geometry) -> np.ndarray:
    """(N, 5) input-pixel rotated boxes in the original image (angles regularized to [0, pi/2))."""
    out = np.array(xywhr, np.float32).reshape(-1, 5)
    out[:, 0] = (out[:, 0] - geo.pad_x) / geo.gain_x
    out[:, 1] = (out[:, 1] - geo.pad_y) / geo.gain_y
    out[:, 2] /= geo.gain_x  # a letterbox scales both axes alike: the angle is kept
    out[:, 3] /= geo.gain_y
    return regularize(out)


class TaskFinish:
    """Turns kept rows (input pixels) into ``Detections`` with the task's arrays."""

    def __init__(self, manifest: Manifest) -> None:
        d = manifest.decoder
        self.task, self.names = d.task, manifest.class_names
        self.keypoints = tuple(d.keypoints)
        self.input_hw = (manifest.input.height, manifest.input.width)

    def __call__(
        self,
        boxes: np.ndarray,
        scores: np.ndarray,
        classes: np.ndarray,
        values: np.ndarray,
        geo: Geometry,
        protos: Optional[np.ndarray],
        opts: DecodeOptions,
    ) -> Detections:
        """``boxes``: (K, 4) xyxy, or (K, 5) xywhr for OBB; ``values``: (K, E) the task's values."""
        if self.task == "obb":
            xywhr = rboxes_to_original(boxes, geo)
            return Detections(enclosing_xyxy(xywhr), scores, classes, self.names, xywhr=xywhr)
        xyxy = geo.to_original(np.asarray(boxes, np.float32))
        if self.task == "pose":
            k, dims = self.keypoints
            points = np.asarray(values, np.float32).reshape(-1, k, dims).copy()
            points[..., :2] = points_to_original(points[..., :2], geo)
            if dims == 2:  # no visibility predicted: every keypoint counts as seen
                points = np.concatenate([points, np.ones((*points.shape[:2], 1), np.float32)], -1)
            return Detections(xyxy, scores, classes, self.names, keypoints=points)
        masks = None
        if protos is not None and opts.masks != "none":
            decoder = MaskDecoder(protos, self.input_hw)
            if opts.masks == "proto":
                masks = decoder.proto_masks(values, np.asarray(boxes, np.float32))
            else:
                masks = decoder.crops(values, xyxy, geo)  # the full stack only when asked for
        return Detections(xyxy, scores, classes, self.names, masks=masks)


class TaskNmsDecoder(NmsDecoder):
    """Per-anchor task outputs -> candidates -> NMS (rotated for OBB) -> the task's arrays."""

    def __init__(self, manifest: Manifest) -> None:
        super().__init__(manifest)
        self.finish_task = TaskFinish(manifest)

    def needs(self, opts: DecodeOptions) -> Optional[List[str]]:
        return None

    def _values(self, outputs: Dict[str, np.ndarray]) -> Optional[np.ndarray]:
        if self.finish_task.task == "segment":
            return self.get(outputs, "mask_coefficients")
        if self.finish_task.task != "pose":
            return None
        xy = self.get(outputs, "keypoints")  # (B, 2K, N)
        if "keypoint_scores" not in self.roles:
            return xy
        seen = self.get(outputs, "keypoint_scores")  # (B, K, N)
        b, k, n = seen.shape
        return np.concatenate([xy.reshape(b, k, 2, n), seen.reshape(b, k, 1, n)], 2).reshape(b, 3 * k, n)

    def __call__(self, outputs, geometries, opts):  # type: ignore[no-untyped-def]
        rotated = self.finish_task.task == "obb"
        boxes = self.get(outputs, "rboxes" if rotated else "boxes")
        scores, values = self.get(outputs, "scores"), self._values(outputs)
        protos = outputs[self.roles["prototypes"].name] if "prototypes" in self.roles else None
        results = []
        for b, geo in enumerate(geometries):
            idx, conf, cls = candidates(self, outputs, scores, b, opts)
            kept_boxes = np.ascontiguousarray(boxes[b][:, idx].T)
            if rotated:
                keep = nms_rotated(kept_boxes, conf, opts.iou, None if opts.agnostic else cls)[: opts.max_det]
            else:
                keep = batched_nms(kept_boxes, conf, cls, opts.iou, opts.agnostic, opts.max_det)
            vals = values[b][:, idx[keep]].T if values is not None else np.zeros((len(keep), 0), np.float32)
            proto = protos[b] if protos is not None else None
            results.append(self.finish_task(kept_boxes[keep], conf[keep], cls[keep], vals, geo, proto, opts))
        return results


class TaskEnd2EndDecoder(End2EndDecoder):
    """(B, K, 6 + E) top-k rows of an NMS-free task head (OBB: cx, cy, w, h, score, class, angle)."""

    def __init__(self, manifest: Manifest) -> None:
        super().__init__(manifest)
        self.finish_task = TaskFinish(manifest)
        self.rows_role = "rotated_detections" if manifest.decoder.task == "obb" else "detections"

    def __call__(self, outputs, geometries, opts):  # type: ignore[no-untyped-def]
        det = self.get(outputs, self.rows_role)
        protos = outputs[self.roles["prototypes"].name] if "prototypes" in self.roles else None
        rotated = self.rows_role == "rotated_detections"
        results = []
        for b, geo in enumerate(geometries):
            rows = det[b][_kept(det[b], opts)]
            boxes = np.concatenate([rows[:, :4], rows[:, 6:7]], 1) if rotated else rows[:, :4]
            values = rows[:, 7:] if rotated else rows[:, 6:]
            proto = protos[b] if protos is not None else None
            results.append(
                self.finish_task(boxes, rows[:, 4], rows[:, 5].astype(np.int64), values, geo, proto, opts)
            )
        return results


def _kept(rows: np.ndarray, opts: DecodeOptions) -> np.ndarray:
    keep = rows[:, 4] > opts.conf
    if opts.classes is not None:
        keep &= np.isin(rows[:, 5].astype(np.int64), opts.classes)
    return np.flatnonzero(keep)[: opts.max_det]


def task_decoder(manifest: Manifest) -> Any:
    """The task decoder of ``manifest`` (NMS or NMS-free form)."""
    kind = manifest.decoder.type
    if kind == "nms":
        return TaskNmsDecoder(manifest)
    if kind == "nms-free":
        return TaskEnd2EndDecoder(manifest)
    from edgekit.errors import BackendError

    raise BackendError(f"a {manifest.decoder.task} model has no '{kind}' decoder (nms or nms-free)")


__all__ = ["TaskEnd2EndDecoder", "TaskNmsDecoder", "task_decoder"]
