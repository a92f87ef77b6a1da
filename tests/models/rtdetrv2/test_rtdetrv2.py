"""edgekit's own RT-DETRv2 against the official lyuwenyu/RT-DETR code.

The golden checkpoints (``tests/data/golden/rtdetrv2``, ``provenance.json``) were built by the
official code from its r18vd config with narrow overrides: a two-stage ResNet18-vd, a two-level
encoder, points per level (2, 3), ``default`` sampling, saved without EMA; and a one-stage
ResNet50-vd (frozen BatchNorm) with ``discrete`` sampling, evaluation at the second of three decoder
layers, saved with EMA. Read by edgekit's safe loader (no code from the file), architecture read
from the shapes (the query count, evaluation layer and encoder heads given as ``--arch`` overrides,
as a user of a custom config would), they reproduce the official outputs and post-process.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgekit.contract.decode import topk_end2end  # noqa: E402
from edgekit.errors import UnsupportedModelError  # noqa: E402
from edgekit.loading.checkpoint import read_checkpoint  # noqa: E402
from edgekit.models.loader import load_checkpoint  # noqa: E402
from edgekit.models.rtdetrv2 import FAMILY, get_arch, infer_arch  # noqa: E402

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "rtdetrv2"
PROVENANCE = json.loads((GOLDEN / "provenance.json").read_text())["fixtures"]
NAMES = sorted(PROVENANCE)


@pytest.mark.parametrize("name", NAMES)
def test_rebuilt_rtdetrv2_reproduces_the_official_model(name: str) -> None:
    ref = np.load(GOLDEN / f"{name}.npz")
    loaded = load_checkpoint(GOLDEN / f"{name}.pth", arch=PROVENANCE[name]["edgekit_arch"])
    assert loaded.info.family == "rtdetrv2" and loaded.info.head.queries == ref["boxes"].shape[1]
    with torch.no_grad():
        boxes, logits = loaded.model.query_outputs(torch.from_numpy(ref["input"]))
    np.testing.assert_allclose(boxes.numpy(), ref["boxes"], atol=2e-6, rtol=0)
    np.testing.assert_allclose(logits.numpy(), ref["logits"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_the_query_head_decode_is_the_official_post_process(name: str) -> None:
    """``edgekit.contract.decode``'s top-k over queries x classes on the pixel boxes equals
    ``RTDETRPostProcessor`` (focal scores, top-k of the flattened scores, xyxy times the size)."""
    ref = np.load(GOLDEN / f"{name}.npz")
    loaded = load_checkpoint(GOLDEN / f"{name}.pth", arch=PROVENANCE[name]["edgekit_arch"])
    with torch.no_grad():
        boxes, logits = loaded.model(torch.from_numpy(ref["input"]))
    rows = topk_end2end(boxes, logits.sigmoid(), loaded.info.head.max_det).numpy()
    np.testing.assert_allclose(rows[..., 4], ref["scores"], atol=1e-6)
    np.testing.assert_allclose(rows[..., :4], ref["post_boxes"], atol=1e-4)
    # the COCO config's post-process names COCO category ids (``remap_mscoco_category``): index + 1 here
    assert np.array_equal(rows[..., 5].astype(np.int64) + 1, ref["labels"])


def test_the_architecture_is_read_from_the_shapes() -> None:
    sd = {k: v for k, v in read_checkpoint(GOLDEN / "rtdetrv2_r18vd_tiny.pth").obj["model"].items()}
    arch = infer_arch(sd)
    assert (arch.depth, arch.num_stages, arch.return_idx, arch.use_encoder_idx) == (18, 2, (0, 1), (1,))
    assert (arch.hidden_dim, arch.num_points, arch.dec_nhead, arch.dec_layers) == (32, (2, 3), 4, 3)
    ema = read_checkpoint(GOLDEN / "rtdetrv2_r50vd_m_dsp_tiny.pth").obj["ema"]["module"]
    arch = infer_arch(dict(ema))
    assert (arch.depth, arch.num_stages, arch.num_points) == (50, 1, (4,))


def test_arch_overrides_and_their_errors() -> None:
    arch = get_arch("r18vd:num_queries=100,eval_idx=1,cross_attn_method=discrete")
    assert (arch.depth, arch.num_queries, arch.eval_idx, arch.cross_attn_method) == (18, 100, 1, "discrete")
    for bad in ("r18vd:queries=100", "r18vd:num_queries=x", "r18vd:cross_attn_method=nearest", "rtdetrv3"):
        with pytest.raises(KeyError):
            get_arch(bad)


def test_the_ema_weights_are_the_ones_loaded(tmp_path: Path) -> None:
    """A solver checkpoint holds the model and its EMA: the EMA (what the official tools deploy) wins."""
    obj = torch.load(GOLDEN / "rtdetrv2_r50vd_m_dsp_tiny.pth", weights_only=True)
    obj["model"] = {k: torch.zeros_like(v) for k, v in obj["model"].items()} if "model" in obj else {}
    torch.save(obj, tmp_path / "ema.pth")
    arch = PROVENANCE["rtdetrv2_r50vd_m_dsp_tiny"]["edgekit_arch"]
    loaded = load_checkpoint(tmp_path / "ema.pth", arch=arch)
    weight = loaded.model.decoder.enc_score_head.weight
    assert float(weight.abs().sum()) > 0


def test_a_foreign_state_dict_is_refused_in_one_line(tmp_path: Path) -> None:
    sd = dict(read_checkpoint(GOLDEN / "rtdetrv2_r18vd_tiny.pth").obj["model"])
    del sd["encoder.encoder.0.layers.0.linear1.weight"]
    torch.save({"model": sd}, tmp_path / "broken.pth")
    with pytest.raises(UnsupportedModelError, match=r"broken\.pth: not an RT-DETRv2 state dict"):
        FAMILY.load(read_checkpoint(tmp_path / "broken.pth"))


@pytest.mark.parametrize(
    "name", ["rtdetrv2_r18vd_120e_coco", "rtdetrv2_r50vd_m_7x_coco", "rtdetrv2_r101vd_6x_coco"]
)
def test_official_configs_are_read_back_from_their_shapes(name: str) -> None:
    """The shapes of each config's state dict give the config back: r50vd_m (depth 50, expansion
    0.5, only those configs) evaluates at its third layer, r101vd's decoder is 256 wide on 384-wide
    encoder features."""
    from edgekit.models.rtdetrv2 import ARCHS, RTDETRv2

    with torch.device("meta"):  # shapes only; the one buffer read by value is set below
        sd = RTDETRv2(ARCHS[name]).state_dict()
    scale = torch.tensor([1.0 / n for n in ARCHS[name].num_points for _ in range(n)])
    sd = {k: scale if k.endswith("num_points_scale") else v for k, v in sd.items()}
    arch = infer_arch(sd)
    want = ARCHS[name]
    assert (arch.depth, arch.hidden_dim, arch.dec_hidden_dim) == (
        want.depth,
        want.hidden_dim,
        want.dec_hidden_dim,
    )
    assert (arch.expansion, arch.dec_layers, arch.eval_idx) == (
        want.expansion,
        want.dec_layers,
        want.eval_idx,
    )


@pytest.mark.parametrize(
    "override, problem",
    [
        ("eval_idx=3", "eval_idx=3 (3 layers)"),
        ("num_queries=0", "num_queries=0"),
        ("enc_nhead=5", "enc_nhead=5"),
    ],
)
def test_impossible_arch_overrides_are_refused_in_one_line(override: str, problem: str) -> None:
    arch = PROVENANCE["rtdetrv2_r18vd_tiny"]["edgekit_arch"] + "," + override
    with pytest.raises(UnsupportedModelError, match=r"rtdetrv2_r18vd_tiny\.pth: --arch") as info:
        load_checkpoint(GOLDEN / "rtdetrv2_r18vd_tiny.pth", arch=arch)
    assert problem in str(info.value) and "\n" not in str(info.value)
