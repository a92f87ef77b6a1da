"""Numpy decoders: raw network outputs -> ``Detections`` in original-image pixels.

The decoder is chosen by ``manifest.decoder.type`` and reads outputs by their *role*; it never
looks at the model family. Box arithmetic matches ``edgekit.contract.decode`` (the torch reference).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edgekit.bundle.manifest import Manifest, OutputSpec
from edgekit.decoding.detections import Detections
from edgekit.decoding.nms import batched_nms
from edgekit.decoding.ort_nms import ort_nms
from edgekit.decoding.preprocess import Geometry, dequantize
from edgekit.errors import BackendError
from edgekit.registry import Registry
from edgekit.vocab import DEFAULT_CONF, DEFAULT_IOU, DEFAULT_MAX_DET

MAX_NMS = 30000  # candidates entering NMS at most (as Ultralytics)


@dataclass(frozen=True)
class DecodeOptions:
    conf: float = DEFAULT_CONF
    iou: float = DEFAULT_IOU
    max_det: int = DEFAULT_MAX_DET
    agnostic: bool = False
    classes: Optional[Tuple[int, ...]] = None
    #: every (anchor, class) pair above ``conf`` is a candidate (Ultralytics' val), not only each
    #: anchor's best class; needs the full scores output
    multi_label: bool = False
    #: segmentation: masks in the original image ("image"), at prototype resolution in input
    #: coordinates ("proto"), or none
    masks: str = "image"


class Decoder:
    """Base decoder: ``decoder(outputs, geometries, options) -> [Detections per image]``."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.names = manifest.class_names
        self.roles: Dict[str, OutputSpec] = {o.role: o for o in manifest.outputs}

    def get(self, outputs: Dict[str, np.ndarray], role: str, channels_first: bool = True) -> np.ndarray:
        """The output of ``role``, dequantized, as (B, C, N) when ``channels_first``."""
        spec = self.roles[role]
        x = outputs[spec.name]
        if spec.quantization is not None:
            x = dequantize(x, spec.quantization)
        if x.ndim == 3 and spec.role in ("boxes", "scores", "box_dist", "score_logits", "boxes_scores"):
            is_bcn = spec.layout == "BCN"
            if is_bcn != channels_first:
                x = x.transpose(0, 2, 1)
        return x

    def __call__(
        self, outputs: Dict[str, np.ndarray], geometries: Sequence[Geometry], opts: DecodeOptions
    ) -> List[Detections]:
        raise NotImplementedError

    def needs(self, opts: DecodeOptions) -> Optional[List[str]]:
        """The output names a call with ``opts`` reads (None: all of them)."""
        return None

    def _best_path_needs(self, box_role: str, opts: DecodeOptions) -> Optional[List[str]]:
        """Boxes and the graph's best score and class per anchor, when ``candidates`` reads those."""
        if opts.classes is not None or opts.multi_label or "best_scores" not in self.roles:
            return None
        return [self.roles[r].name for r in (box_role, "best_scores", "best_classes")]

    def get_if_fetched(self, outputs: Dict[str, np.ndarray], role: str) -> Optional[np.ndarray]:
        """``get``, or None when the runtime was not asked for that output (see ``needs``)."""
        return self.get(outputs, role) if self.roles[role].name in outputs else None

    def finish(self, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, geo: Geometry) -> Detections:
        return Detections(geo.to_original(boxes), scores, classes, self.names)


DECODERS: Registry[Callable[[Manifest], Decoder]] = Registry("decoder")


def _class_mask(nc: int, classes: Optional[Tuple[int, ...]]) -> Optional[np.ndarray]:
    if classes is None:
        return None
    mask = np.zeros(nc, dtype=bool)
    mask[[c for c in classes if 0 <= c < nc]] = True
    return mask


def _above(best: np.ndarray, threshold: float) -> np.ndarray:
    """Indices of anchors whose best score exceeds ``threshold``, the highest ``MAX_NMS`` at most."""
    idx = np.flatnonzero(best > threshold)
    if len(idx) > MAX_NMS:
        idx = idx[np.argpartition(-best[idx], MAX_NMS)[:MAX_NMS]]
    return idx


def select_candidates(
    scores: np.ndarray,
    conf: float,
    classes: Optional[Tuple[int, ...]],
    is_logit: bool = False,
    multi_label: bool = False,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(nc, N) scores -> candidate anchor indices, their score and class: each anchor's best class,
    or with ``multi_label`` every (anchor, class) pair above ``conf`` (an anchor may repeat)."""
    mask = _class_mask(scores.shape[0], classes)
    if mask is not None:
        scores = np.where(mask[:, None], scores, -np.inf)
    threshold = math.log(conf / (1 - conf)) if is_logit and 0 < conf < 1 else conf
    if multi_label:
        return _pairs_above(scores, threshold, is_logit)
    best = scores.max(0)
    idx = _above(best, threshold)
    cls = scores[:, idx].argmax(0) if len(idx) else np.zeros(0, dtype=np.int64)
    top = best[idx]
    if is_logit:
        top = 1.0 / (1.0 + np.exp(-top))
    return idx, top.astype(np.float32), cls


def _pairs_above(
    scores: np.ndarray, threshold: float, is_logit: bool
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (class, anchor) score above ``threshold``, the highest ``MAX_NMS`` at most."""
    cls, idx = np.nonzero(scores > threshold)
    top = scores[cls, idx]
    if len(top) > MAX_NMS:
        keep = np.argpartition(-top, MAX_NMS)[:MAX_NMS]
        cls, idx, top = cls[keep], idx[keep], top[keep]
    if is_logit:
        top = 1.0 / (1.0 + np.exp(-top))
    return idx, top.astype(np.float32), cls.astype(np.int64)


def candidates(
    decoder: Decoder,
    outputs: Dict[str, np.ndarray],
    scores: Optional[np.ndarray],
    b: int,
    opts: DecodeOptions,
    is_logit: bool = False,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image ``b``'s candidates: from the graph's per-anchor best score and class when the model
    has them (and no class filter asks for other classes), else from the full (nc, N) ``scores``."""
    if opts.classes is None and not opts.multi_label and not is_logit and "best_scores" in decoder.roles:
        best = outputs[decoder.roles["best_scores"].name][b]
        idx = _above(best, opts.conf)
        best_class = outputs[decoder.roles["best_classes"].name][b]
        return idx, best[idx].astype(np.float32, copy=False), best_class[idx].astype(np.int64, copy=False)
    if scores is None:
        raise BackendError("the decoder needs the full scores output, which was not fetched")
    return select_candidates(scores[b], opts.conf, opts.classes, is_logit, opts.multi_label)


@DECODERS.register("nms")
class NmsDecoder(Decoder):
    """Boxes + scores (split or concatenated) -> best class per anchor -> class-aware NMS."""

    def __init__(self, manifest: Manifest) -> None:
        super().__init__(manifest)
        ort_nms()  # build the compiled NMS now, not inside the first frame

    def needs(self, opts: DecodeOptions) -> Optional[List[str]]:
        return self._best_path_needs("boxes_scores" if "boxes_scores" in self.roles else "boxes", opts)

    def __call__(self, outputs, geometries, opts):  # type: ignore[no-untyped-def]
        if "boxes_scores" in self.roles:
            both = self.get(outputs, "boxes_scores")
            boxes, scores = both[:, :4], both[:, 4:]
        else:
            boxes, scores = self.get(outputs, "boxes"), self.get_if_fetched(outputs, "scores")
        results = []
        for b, geo in enumerate(geometries):
            idx, conf, cls = candidates(self, outputs, scores, b, opts)
            xyxy = np.ascontiguousarray(boxes[b][:, idx].T)
            keep = batched_nms(xyxy, conf, cls, opts.iou, opts.agnostic, opts.max_det)
            results.append(self.finish(xyxy[keep], conf[keep], cls[keep], geo))
        return results


@DECODERS.register("host-dfl")
class HostDflDecoder(NmsDecoder):
    """Raw DFL logits out of the graph; the expectation is computed here for candidates only."""

    def __init__(self, manifest: Manifest) -> None:
        super().__init__(manifest)  # (warms the compiled NMS)
        d = manifest.decoder
        self.bins = d.bins
        points, strides = [], []
        for s in d.strides:
            h, w = math.ceil(manifest.input.height / s), math.ceil(manifest.input.width / s)
            gy, gx = np.meshgrid(
                np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij"
            )
            points.append(np.stack((gx.ravel(), gy.ravel())) + np.float32(d.anchor_offset))
            strides.append(np.full(h * w, s, dtype=np.float32))
        self.anchors = np.concatenate(points, 1)  # (2, N) grid units
        self.strides = np.concatenate(strides)  # (N,)
        self.proj = np.arange(self.bins, dtype=np.float32)

    def boxes_for(self, dist: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """(4*bins, N) logits -> (K, 4) xyxy input pixels for anchor indices ``idx``."""
        logits = dist[:, idx].reshape(4, self.bins, -1)
        if self.bins > 1:
            e = np.exp(logits - logits.max(1, keepdims=True))
            ltrb = (e * self.proj[None, :, None]).sum(1) / e.sum(1)
        else:
            ltrb = logits[:, 0]
        a, s = self.anchors[:, idx], self.strides[idx]
        return (np.concatenate((a - ltrb[:2], a + ltrb[2:])) * s).T

    def needs(self, opts: DecodeOptions) -> Optional[List[str]]:
        return None if "score_logits" in self.roles else self._best_path_needs("box_dist", opts)

    def __call__(self, outputs, geometries, opts):  # type: ignore[no-untyped-def]
        dist = self.get(outputs, "box_dist")
        is_logit = "score_logits" in self.roles
        scores = self.get_if_fetched(outputs, "score_logits" if is_logit else "scores")
        results = []
        for b, geo in enumerate(geometries):
            idx, conf, cls = candidates(self, outputs, scores, b, opts, is_logit)
            xyxy = self.boxes_for(dist[b], idx).astype(np.float32)
            keep = batched_nms(xyxy, conf, cls, opts.iou, opts.agnostic, opts.max_det)
            results.append(self.finish(xyxy[keep], conf[keep], cls[keep], geo))
        return results


def _filter_rows(
    boxes: np.ndarray, scores: np.ndarray, cls: np.ndarray, opts: DecodeOptions
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    keep = scores > opts.conf
    if opts.classes is not None:
        keep &= np.isin(cls, opts.classes)
    idx = np.flatnonzero(keep)[: opts.max_det]
    return boxes[idx], scores[idx], cls[idx]


@DECODERS.register("nms-free")
class End2EndDecoder(Decoder):
    """(B, K, 6) top-k rows of an NMS-free head: threshold and class filter only."""

    def __call__(self, outputs, geometries, opts):  # type: ignore[no-untyped-def]
        det = self.get(outputs, "detections")
        results = []
        for b, geo in enumerate(geometries):
            rows = det[b]
            boxes, scores, cls = _filter_rows(rows[:, :4], rows[:, 4], rows[:, 5].astype(np.int64), opts)
            results.append(self.finish(boxes, scores, cls, geo))
        return results


@DECODERS.register("graph-nms")
class GraphNmsDecoder(Decoder):
    """NMS done in the graph: EfficientNMS_TRT outputs, (detections, num_dets), or ONNX NMS indices."""

    def __call__(self, outputs, geometries, opts):  # type: ignore[no-untyped-def]
        results = []
        if "nms_indices" in self.roles:  # ONNX NonMaxSuppression: rows (batch, class, box)
            sel = self.get(outputs, "nms_indices").astype(np.int64)
            boxes, scores = self.get(outputs, "boxes"), self.get(outputs, "scores")
            for b, geo in enumerate(geometries):
                rows = sel[sel[:, 0] == b]
                s = scores[b][rows[:, 1], rows[:, 2]]
                order = np.argsort(-s, kind="stable")
                rows, s = rows[order], s[order]
                xyxy = boxes[b][:, rows[:, 2]].T
                results.append(self.finish(*_filter_rows(xyxy, s, rows[:, 1], opts), geo))
            return results
        num = self.get(outputs, "num_dets").reshape(-1).astype(np.int64)
        if "detections" in self.roles:
            det = self.get(outputs, "detections")
            parts = det[..., :4], det[..., 4], det[..., 5]
        else:
            parts = (
                self.get(outputs, "det_boxes"),
                self.get(outputs, "det_scores"),
                self.get(outputs, "det_classes"),
            )
        for b, geo in enumerate(geometries):
            n = int(num[b])
            boxes, scores, cls = parts[0][b, :n], parts[1][b, :n], parts[2][b, :n].astype(np.int64)
            results.append(self.finish(*_filter_rows(boxes, scores, cls, opts), geo))
        return results


def make_decoder(manifest: Manifest) -> Decoder:
    if manifest.decoder.task != "detect":
        from edgekit.decoding.task_decoders import task_decoder

        return task_decoder(manifest)
    return DECODERS.get(manifest.decoder.type)(manifest)
