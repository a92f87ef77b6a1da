"""Head forms against the reference decoder, and their ONNX export through onnxruntime."""

from __future__ import annotations

from pathlib import Path
from typing import Tuple

import numpy as np
import pytest
import torch

from edgekit.contract.decode import decode, dfl_expectation, flatten_levels, make_anchors, topk_end2end
from edgekit.reparam import (
    ConvBnFoldPass,
    DecodedHead,
    DeployFormPass,
    End2EndHead,
    reparameterize,
    sample_inputs,
)
from edgekit.verify import FP32, TOLERANCE, check_output, max_rel_error

from ..conftest import need
from .helpers import head_spec, tiny_detector

SIZE = 64
IMGSZ = (SIZE, SIZE)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return sample_inputs(SIZE, batch=2, seed=1)


def _raw(model: torch.nn.Module, x: torch.Tensor) -> Tuple[list, list]:
    with torch.no_grad():
        return model(x)


def test_fused_dfl_matches_decode(images: torch.Tensor) -> None:
    model, head = tiny_detector(), head_spec(bins=4)
    wrapped = DecodedHead(model, head, IMGSZ, "fused").eval()
    with torch.no_grad():
        boxes, scores = wrapped(images)
    ref_boxes, ref_scores = decode(_raw(model, images), head)
    assert boxes.shape == (2, 84, 4) and scores.shape == (2, 84, 3)
    assert max_rel_error(boxes, ref_boxes) <= TOLERANCE
    assert max_rel_error(scores, ref_scores) <= TOLERANCE
    assert float(boxes[..., 2:].sub(boxes[..., :2]).min()) > 0  # real boxes, not a degenerate test


def test_host_dfl_returns_logits_the_host_can_decode(images: torch.Tensor) -> None:
    model, head = tiny_detector(), head_spec(bins=4)
    wrapped = DecodedHead(model, head, IMGSZ, "host").eval()
    assert wrapped.output_names == ["box_dist", "scores"]
    with torch.no_grad():
        dist, scores = wrapped(images)
    raw = _raw(model, images)
    assert dist.shape == (2, 84, 16)
    assert torch.equal(dist, flatten_levels(raw)[0].transpose(1, 2))
    # the host: DFL only for candidates above the threshold, then the same box arithmetic
    ref_boxes, ref_scores = decode(raw, head)
    assert max_rel_error(scores, ref_scores) <= TOLERANCE
    anchors, strides = make_anchors([(8, 8), (4, 4), (2, 2)], head.strides, head.anchor_offset, torch.float32)
    b, n = torch.nonzero(scores.amax(-1) > 0.5, as_tuple=True)
    assert 0 < len(n) < 2 * 84
    ltrb = dfl_expectation(dist[b, n].unsqueeze(-1), 4)[..., 0]  # (K, 4)
    host_boxes = torch.cat((anchors[n] - ltrb[:, :2], anchors[n] + ltrb[:, 2:]), -1) * strides[n]
    assert max_rel_error(host_boxes, ref_boxes[b, n]) <= TOLERANCE


def test_no_dfl_for_single_bin_heads_and_concat(images: torch.Tensor) -> None:
    model, head = tiny_detector(bins=1), head_spec(bins=1)
    split = DecodedHead(model, head, IMGSZ).eval()  # default for bins=1: none
    concat = DecodedHead(model, head, IMGSZ, "none", "concat").eval()
    assert split.dfl == "none" and concat.output_names == ["detections"]
    with torch.no_grad():
        boxes, scores = split(images)
        (joined,) = concat(images)
    ref_boxes, ref_scores = decode(_raw(model, images), head)
    assert max_rel_error(boxes, ref_boxes) <= TOLERANCE and max_rel_error(scores, ref_scores) <= TOLERANCE
    assert torch.equal(joined, torch.cat((boxes, scores), -1))


def test_corner_anchors_and_unlisted_modes_are_checked(images: torch.Tensor) -> None:
    model = tiny_detector()
    damo_like = head_spec(bins=4, anchor_offset=0.0)
    with torch.no_grad():
        boxes, _ = DecodedHead(model, damo_like, IMGSZ, "fused").eval()(images)
    assert max_rel_error(boxes, decode(_raw(model, images), damo_like)[0]) <= TOLERANCE
    with pytest.raises(ValueError, match="bins=1: use 'none'"):
        DecodedHead(tiny_detector(bins=1), head_spec(bins=1), IMGSZ, "fused")
    with pytest.raises(ValueError, match="4-bin DFL: use 'fused' or 'host'"):
        DecodedHead(model, head_spec(bins=4), IMGSZ, "none")
    with pytest.raises(ValueError, match="4 x 16 box channels"):
        DecodedHead(model, head_spec(bins=16), IMGSZ, "fused")
    with pytest.raises(ValueError, match="'host' does not apply"):
        End2EndHead(model, head_spec(bins=4), IMGSZ, "host")


@pytest.mark.parametrize("bins", [1, 4])
def test_end2end_head_matches_topk_of_decode(images: torch.Tensor, bins: int) -> None:
    model, head = tiny_detector(bins=bins), head_spec(bins=bins, max_det=25)
    with torch.no_grad():
        out = End2EndHead(model, head, IMGSZ).eval()(images)
    ref = topk_end2end(*decode(_raw(model, images), head), head.max_det)
    assert out.shape == (2, 25, 6)
    if bins == 1:  # the same arithmetic, op for op
        assert torch.equal(out, ref)
    assert topk_ok(out, ref)


def topk_ok(actual: torch.Tensor, expected: torch.Tensor) -> bool:
    """Top-k rows compared as ``edgekit.verify`` compares them (detections, FP32 bounds)."""
    return check_output("d", "detections", actual, expected, FP32).ok


def test_topk_rows_tolerate_near_tie_swaps_only() -> None:
    expected = torch.tensor(
        [[[0, 0, 10, 10, 0.9, 1], [5, 5, 9, 9, 0.5, 0], [1, 1, 2, 2, 0.5, 2], [3, 3, 4, 4, 0.1, 0]]]
    )
    swapped = expected[:, [0, 2, 1, 3]].clone()
    swapped[0, 1, 4] = 0.5 + 1e-7  # rows 1 and 2 tie: a legal reordering
    assert topk_ok(swapped, expected)
    moved = expected.clone()
    moved[0, 0, :4] += 1.0  # a clear row with another box
    assert not topk_ok(moved, expected)
    relabelled = expected.clone()
    relabelled[0, 0, 5] = 2
    assert not topk_ok(relabelled, expected)
    rescored = expected.clone()
    rescored[0, 0, 4] = 0.8  # a clear row with another score
    assert not topk_ok(rescored, expected)


def _export(module: torch.nn.Module, x: torch.Tensor, path: Path, names: list) -> None:
    torch.onnx.export(
        module, (x,), str(path), dynamo=False, opset_version=17, input_names=["images"], output_names=names
    )


# the TorchScript exporter is used on purpose; the top-k size is a constant per imgsz
IGNORE_EXPORTER = pytest.mark.filterwarnings("ignore::DeprecationWarning")
IGNORE_TRACER = pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")


@IGNORE_EXPORTER
@IGNORE_TRACER
@pytest.mark.parametrize("dfl, output", [("fused", "split"), ("host", "split"), ("fused", "concat")])
def test_decoded_head_exports_to_onnx_and_runs_in_onnxruntime(
    tmp_path: Path, images: torch.Tensor, dfl: str, output: str
) -> None:
    ort, onnx = need("onnxruntime"), need("onnx")
    head = head_spec(bins=4)
    fused, _ = reparameterize(tiny_detector(), [DeployFormPass(), ConvBnFoldPass()], images, measure=False)
    wrapped = DecodedHead(fused, head, IMGSZ, dfl, output).eval()
    path = tmp_path / "head.onnx"
    _export(wrapped, images[:1], path, wrapped.output_names)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "BatchNormalization" not in ops
    assert not ops & {"Range", "Shape", "NonZero"}, ops  # anchors are constants, no shape arithmetic
    assert ("Softmax" in ops) == (dfl == "fused")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"images": images[:1].numpy()})
    with torch.no_grad():
        want = wrapped(images[:1])
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert max_rel_error(np.asarray(a), b) <= TOLERANCE


@IGNORE_EXPORTER
@IGNORE_TRACER
def test_end2end_head_exports_to_onnx(tmp_path: Path, images: torch.Tensor) -> None:
    ort = need("onnxruntime")
    head = head_spec(bins=1, max_det=25)
    wrapped = End2EndHead(tiny_detector(bins=1), head, IMGSZ).eval()
    path = tmp_path / "e2e.onnx"
    _export(wrapped, images[:1], path, wrapped.output_names)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"images": images[:1].numpy()})
    with torch.no_grad():
        want = wrapped(images[:1])
    assert got.shape == (1, 25, 6)
    assert topk_ok(torch.from_numpy(got), want)
