"""edgekit's own RT-DETR (``hgnet``, ``rtdetr``, ``build.RTDETRModel``) against the real Ultralytics one.

The golden checkpoints (``tests/data/golden/rtdetr``, ``tools/make_rtdetr_golden.py``) are narrow
RT-DETRs in the layouts of ``rtdetr-l`` (HGNetv2) and ``rtdetr-resnet50`` (ResNet), built by the
real package (8.4.190) with its own initialization, BatchNorm statistics randomized and every
linear / layer-norm parameter perturbed, saved as its trainer saves them. Read by edgekit's safe
loader (no code from the file), rebuilt from the checkpoint's yaml, they must reproduce the
official decoder outputs of its evaluation layer (conversion: ``tests/converters/test_rtdetr.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgekit.loading.checkpoint import read_checkpoint
from edgekit.loading.records import record_state_dict
from edgekit.models.ultralytics.build import RTDETRModel
from edgekit.models.ultralytics.family import sync_from_record
from edgekit.models.ultralytics.rtdetr import RTDETRDecoder

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "rtdetr"
NAMES = ["rtdetr_hgnet_tiny", "rtdetr_resnet_tiny"]


def load(name: str) -> RTDETRModel:
    rec = read_checkpoint(GOLDEN / f"{name}.pt").model_record()
    assert rec is not None and rec.cls.endswith("RTDETRDetectionModel")
    model = RTDETRModel(dict(rec.attr("yaml")))
    model.load_state_dict({k: v.float() for k, v in record_state_dict(rec).items()}, strict=True)
    sync_from_record(model, rec, name)
    return model.eval()


@pytest.mark.parametrize("name", NAMES)
def test_rebuilt_rtdetr_reproduces_the_official_decoder(name: str) -> None:
    ref = np.load(GOLDEN / f"{name}.npz")
    model = load(name)
    with torch.no_grad():
        boxes, logits = model.query_outputs(torch.from_numpy(ref["input"]))
    assert boxes.shape == ref["boxes"].shape and logits.shape == ref["logits"].shape
    np.testing.assert_allclose(boxes.numpy(), ref["boxes"], atol=2e-5, rtol=1e-5)
    np.testing.assert_allclose(logits.numpy(), ref["logits"], atol=2e-4, rtol=1e-4)
    # the official top-k over queries x classes: scores are the sigmoid logits, boxes the queries'
    top = ref["topk"]
    scores = torch.sigmoid(logits).flatten(1)
    values, index = scores.topk(top.shape[1], dim=1)
    np.testing.assert_allclose(values.numpy(), top[..., 4], atol=1e-5)
    query = (index // model.nc).unsqueeze(-1).expand(-1, -1, 4)
    np.testing.assert_allclose(boxes.gather(1, query).numpy(), top[..., :4], atol=2e-5)
    assert np.array_equal((index % model.nc).numpy(), top[..., 5].astype(np.int64))


def test_the_training_only_heads_are_loaded_but_not_run() -> None:
    model = load(NAMES[0])
    head = model.head
    assert isinstance(head, RTDETRDecoder) and head.decoder.eval_idx == len(head.decoder.layers) - 1
    calls = []
    for i, score in head.dec_score_head.items():
        score.register_forward_hook(lambda *_a, i=int(i): calls.append(i))
    with torch.no_grad():
        model(torch.rand(1, 3, 64, 64))
    assert calls == [
        head.decoder.eval_idx
    ]  # earlier layers' heads and the denoising embedding: training only


def test_position_embedding_is_row_major_on_a_non_square_map() -> None:
    """AIFI's 2D sine-cosine embedding as ultralytics 8.4.190 builds it: token ``r * w + c`` holds
    sin / cos of its row, then of its column (older releases had the axes the other way round,
    which agrees only on square maps)."""
    from edgekit.models.ultralytics.hgnet import sincos_position_embedding

    h, w, dim = 2, 3, 8
    emb = sincos_position_embedding(w, h, dim, like=torch.zeros(1))[0]
    omega = 1.0 / 10000.0 ** (torch.arange(dim // 4, dtype=torch.float32) / (dim // 4))
    for r in range(h):
        for c in range(w):
            want = torch.cat(
                [torch.sin(r * omega), torch.cos(r * omega), torch.sin(c * omega), torch.cos(c * omega)]
            )
            torch.testing.assert_close(emb[r * w + c], want, rtol=0, atol=1e-6)
