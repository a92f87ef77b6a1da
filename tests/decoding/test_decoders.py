from __future__ import annotations

import math

import numpy as np
import pytest

from edgekit.bundle.manifest import DecoderSpec, OutputSpec
from edgekit.decoding import DecodeOptions, Detections, make_decoder
from edgekit.decoding.preprocess import Geometry

from .factory import manifest

IDENTITY = Geometry(1.0, 1.0, 0.0, 0.0, (64, 64))


def split_outputs(layout: str = "BCN"):
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [30, 30, 50, 60], [5, 5, 9, 9]], np.float32)
    scores = np.array([[0.9, 0, 0], [0.8, 0, 0], [0, 0.7, 0.1], [0, 0, 0.2]], np.float32)  # (N, nc)
    if layout == "BCN":
        return {"boxes": boxes.T[None], "scores": scores.T[None]}
    return {"boxes": boxes[None], "scores": scores[None]}


def split_manifest(layout: str = "BCN"):
    """A manifest for ``split_outputs``: boxes and scores of 4 anchors, 3 classes, NMS decoding."""
    return manifest(
        [
            OutputSpec("boxes", "boxes", (1, 4, 4), layout=layout),
            OutputSpec("scores", "scores", (1, 3, 4), layout=layout),
        ],
        DecoderSpec("nms"),
    )


@pytest.mark.parametrize("layout", ["BCN", "BNC"])
def test_nms_decoder(layout: str) -> None:
    m = split_manifest(layout)
    dec = make_decoder(m)
    [det] = dec(split_outputs(layout), [IDENTITY], DecodeOptions(conf=0.25, iou=0.5))
    assert isinstance(det, Detections)
    assert det.class_id.tolist() == [0, 1] and det.names == ["a", "b"]
    np.testing.assert_allclose(det.confidence, [0.9, 0.7])
    np.testing.assert_allclose(det.xyxy, [[0, 0, 10, 10], [30, 30, 50, 60]])
    [low] = dec(split_outputs(layout), [IDENTITY], DecodeOptions(conf=0.15, iou=0.5, classes=(2,)))
    assert low.class_id.tolist() == [2] and float(low.confidence[0]) == pytest.approx(0.2)


@pytest.mark.parametrize("layout", ["BCN", "BNC"])
def test_multi_label_keeps_every_class_above_conf(layout: str) -> None:
    m = split_manifest(layout)
    dec = make_decoder(m)
    outputs = split_outputs(layout)
    best = DecodeOptions(conf=0.05, iou=0.5)
    [one] = dec(outputs, [IDENTITY], best)
    # anchor 2 scores 0.7 for class 1 and 0.1 for class 2: only its best class, or both
    assert sorted(zip(one.class_id.tolist(), one.confidence.astype(float).round(2).tolist())) == [
        (0, 0.9),
        (1, 0.7),
        (2, 0.2),
    ]
    [multi] = dec(outputs, [IDENTITY], DecodeOptions(conf=0.05, iou=0.5, multi_label=True))
    pairs = sorted(zip(multi.class_id.tolist(), multi.confidence.astype(float).round(2).tolist()))
    assert pairs == [(0, 0.9), (1, 0.7), (2, 0.1), (2, 0.2)]  # NMS per class: both class-2 boxes stay
    np.testing.assert_allclose(multi.xyxy[multi.confidence.astype(float).round(2) == 0.1], [[30, 30, 50, 60]])
    assert dec.needs(DecodeOptions(multi_label=True)) is None  # it reads the full scores


def test_boxes_map_back_through_letterbox() -> None:
    m = manifest(
        [
            OutputSpec("boxes", "boxes", (1, 4, 4), layout="BCN"),
            OutputSpec("scores", "scores", (1, 3, 4), layout="BCN"),
        ],
        DecoderSpec("nms"),
    )
    geo = Geometry(0.5, 0.5, 0.0, 4.0, (120, 128))
    [det] = make_decoder(m)(split_outputs(), [geo], DecodeOptions())
    np.testing.assert_allclose(det.xyxy[1], [60, 52, 100, 112])


def reference_dfl(dist: np.ndarray, strides, height: int, width: int, bins: int, offset: float) -> np.ndarray:
    """Independent full decode of every anchor (loops, no shared code with the decoder)."""
    boxes = []
    n = 0
    for s in strides:
        for i in range(math.ceil(height / s)):
            for j in range(math.ceil(width / s)):
                ltrb = []
                for side in range(4):
                    logit = dist[side * bins : (side + 1) * bins, n].astype(np.float64)
                    if bins == 1:  # no DFL: the value is the distance itself
                        ltrb.append(float(logit[0]))
                        continue
                    p = np.exp(logit - logit.max())
                    ltrb.append(float((p / p.sum()) @ np.arange(bins)))
                cx, cy = j + offset, i + offset
                boxes.append([(cx - ltrb[0]) * s, (cy - ltrb[1]) * s, (cx + ltrb[2]) * s, (cy + ltrb[3]) * s])
                n += 1
    return np.asarray(boxes, np.float32)


@pytest.mark.parametrize("bins, offset", [(16, 0.5), (17, 0.0), (1, 0.5)])
def test_host_dfl_equals_full_decode_then_nms(bins: int, offset: float) -> None:
    strides, h, w, nc = (8, 16, 32), 64, 96, 3
    n = sum(math.ceil(h / s) * math.ceil(w / s) for s in strides)
    rng = np.random.default_rng(bins)
    dist = rng.normal(0, 2, (4 * bins, n)).astype(np.float32)
    if bins == 1:
        dist = np.abs(dist) * 2
    logits = rng.normal(-3, 2, (nc, n)).astype(np.float32)
    scores = 1 / (1 + np.exp(-logits))
    host = manifest(
        [
            OutputSpec("d", "box_dist", (1, 4 * bins, n), layout="BCN"),
            OutputSpec("s", "score_logits", (1, nc, n), layout="BCN"),
        ],
        DecoderSpec("host-dfl", strides=strides, bins=bins, anchor_offset=offset),
        height=h,
        width=w,
    )
    full = manifest(
        [OutputSpec("b", "boxes", (1, n, 4)), OutputSpec("s", "scores", (1, n, nc))],
        DecoderSpec("nms"),
        height=h,
        width=w,
    )
    geo = Geometry(1.0, 1.0, 0.0, 0.0, (h, w))
    opts = DecodeOptions(conf=0.3, iou=0.5)
    [a] = make_decoder(host)({"d": dist[None], "s": logits[None]}, [geo], opts)
    ref_boxes = reference_dfl(dist, strides, h, w, bins, offset)
    [b] = make_decoder(full)({"b": ref_boxes[None], "s": scores.T[None]}, [geo], opts)
    assert len(a) >= 20, "the test must compare a real number of detections"
    assert a.class_id.tolist() == b.class_id.tolist()
    np.testing.assert_allclose(a.confidence, b.confidence, rtol=1e-5)
    np.testing.assert_allclose(a.xyxy, np.clip(b.xyxy, 0, None), atol=1e-3)


def test_nms_free_decoder() -> None:
    det = np.zeros((1, 5, 6), np.float32)
    det[0, :3] = [[1, 2, 3, 4, 0.9, 2], [5, 6, 7, 8, 0.5, 0], [0, 0, 1, 1, 0.1, 1]]
    m = manifest([OutputSpec("det", "detections", (1, 5, 6))], DecoderSpec("nms-free"))
    [out] = make_decoder(m)({"det": det}, [IDENTITY], DecodeOptions(conf=0.25))
    assert out.class_id.tolist() == [2, 0] and out.names == ["c", "a"]
    [one] = make_decoder(m)({"det": det}, [IDENTITY], DecodeOptions(conf=0.25, max_det=1))
    assert len(one) == 1


def test_graph_nms_decoders() -> None:
    m = manifest(
        [
            OutputSpec("n", "num_dets", (1, 1), dtype="int32"),
            OutputSpec("b", "det_boxes", (1, 3, 4)),
            OutputSpec("s", "det_scores", (1, 3)),
            OutputSpec("c", "det_classes", (1, 3), dtype="int32"),
        ],
        DecoderSpec("graph-nms"),
    )
    outs = {
        "n": np.array([[2]], np.int32),
        "b": np.array([[[1, 1, 5, 5], [2, 2, 9, 9], [0, 0, 0, 0]]], np.float32),
        "s": np.array([[0.8, 0.6, 0.0]], np.float32),
        "c": np.array([[1, 2, 0]], np.int32),
    }
    [out] = make_decoder(m)(outs, [IDENTITY], DecodeOptions())
    assert out.class_id.tolist() == [1, 2] and len(out) == 2
    onnx_nms = manifest(
        [
            OutputSpec("boxes", "boxes", (1, 4, 4), layout="BCN"),
            OutputSpec("scores", "scores", (1, 3, 4), layout="BCN"),
            OutputSpec("i", "nms_indices", (None, 3), dtype="int64"),
        ],
        DecoderSpec("graph-nms"),
    )
    outs = split_outputs()
    outs["i"] = np.array([[0, 1, 2], [0, 0, 0]], np.int64)
    [out] = make_decoder(onnx_nms)(outs, [IDENTITY], DecodeOptions())
    assert out.class_id.tolist() == [0, 1]  # sorted by score: 0.9 then 0.7


@pytest.mark.parametrize("decoder", ["nms", "host-dfl"])
def test_best_score_outputs_give_the_full_scores_result(
    decoder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An artifact's in-graph best score/class (``extra_outputs``) decode exactly as the full scores."""
    from dataclasses import replace

    from edgekit.decoding import decoders

    rng = np.random.default_rng(0)
    nc, strides = 3, (8, 16, 32)
    n = sum(math.ceil(64 / s) ** 2 for s in strides)
    scores = rng.random((1, nc, n), dtype=np.float32) ** 3
    scores[0, :, 5] = 0.6  # a three-way tie: the first class wins in both paths
    first = ("box_dist", "box_dist", (1, 4, n)) if decoder == "host-dfl" else ("boxes", "boxes", (1, 4, n))
    xy = rng.random((2, n), dtype=np.float32) * 48
    box = np.concatenate([xy, xy + 4 + rng.random((2, n), dtype=np.float32) * 12])[None]
    first_out = rng.random((1, 4, n), dtype=np.float32) * 3 if decoder == "host-dfl" else box
    outputs = [
        OutputSpec(first[0], first[1], first[2], layout="BCN"),
        OutputSpec("scores", "scores", (1, nc, n), layout="BCN"),
    ]
    spec = DecoderSpec(decoder, strides=strides)
    plain = manifest(outputs, spec)
    extra = (
        OutputSpec("best_scores", "best_scores", (1, n)),
        OutputSpec("best_classes", "best_classes", (1, n), "int64"),
    )
    host = plain.for_artifact(replace(plain.artifacts[0], extra_outputs=extra))
    raw = {first[0]: first_out, "scores": scores}
    with_best = {**raw, "best_scores": scores.max(1), "best_classes": scores.argmax(1)}
    for opts in (DecodeOptions(conf=0.25, iou=0.5), DecodeOptions(conf=0.05, iou=0.7, max_det=10)):
        [want] = make_decoder(plain)(raw, [IDENTITY], opts)
        [got] = make_decoder(host)(with_best, [IDENTITY], opts)
        assert len(want) >= 10
        np.testing.assert_array_equal(got.xyxy, want.xyxy)
        np.testing.assert_array_equal(got.class_id, want.class_id)
        np.testing.assert_array_equal(got.confidence, want.confidence)
    # a class filter needs the other classes' scores: the full scores are read, not the best ones
    poisoned = {**with_best, "best_scores": np.zeros_like(with_best["best_scores"])}
    [only] = make_decoder(host)(poisoned, [IDENTITY], DecodeOptions(conf=0.25, classes=(1,)))
    assert len(only) > 0 and set(only.class_id.tolist()) == {1}
    monkeypatch.setattr(decoders, "MAX_NMS", 20)  # the candidate cap keeps the same top scores
    opts = DecodeOptions(conf=0.05, iou=0.99)
    [want] = make_decoder(plain)(raw, [IDENTITY], opts)
    [got] = make_decoder(host)(with_best, [IDENTITY], opts)
    assert len(got) == len(want) and np.array_equal(got.confidence, want.confidence)
