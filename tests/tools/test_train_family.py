"""The compact trainer of the YOLOv9-PGI and DAMO-YOLO fixtures (``tools/train_family.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))

from detloss import assign, box_iou_pairs, dfl_loss  # noqa: E402
from shapes_data import Augmenter, ShapesTrainSet, collate  # noqa: E402
from train_family import Ema, Recipe, fit_epochs, lr_at  # noqa: E402

from edgekit import load_checkpoint  # noqa: E402
from edgekit.testing import generate  # noqa: E402


def grid_points(n: int, stride: float, offset: float = 0.5) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(n) + offset, torch.arange(n) + offset, indexing="ij")
    return torch.stack((xs, ys), -1).reshape(-1, 2) * stride


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shapes")
    generate(root, 12, 2, 2, seed=3, imgsz=128)
    return root


def test_assignment_takes_the_top_anchors_inside_each_box() -> None:
    points = grid_points(16, 8.0)  # 256 anchors over 128 px
    gt = torch.tensor([[[8.0, 8.0, 72.0, 56.0], [64.0, 64.0, 120.0, 120.0]]])
    labels = torch.tensor([[2, 5]])
    pred = gt[0, 0].expand(1, 256, 4).clone()
    pred[0, 100:] = gt[0, 1]
    a = assign(torch.full((1, 256, 8), 0.5), pred, points, labels, gt, labels >= 0, topk=10)
    assert int(a.fg.sum()) == 20  # ten anchors per box, none shared
    for k in range(2):
        mine = a.fg[0] & (a.boxes[0] == gt[0, k]).all(-1)
        assert int(mine.sum()) == 10
        inside = (points[mine] > gt[0, k, :2]).all(-1) & (points[mine] < gt[0, k, 2:]).all(-1)
        assert bool(inside.all())
        assert set(a.scores[0, mine].argmax(-1).tolist()) == {int(labels[0, k])}
    assert float(a.scores[0, ~a.fg[0]].abs().sum()) == 0.0
    assert float(a.scores.max()) <= 1.0


def test_padding_rows_assign_nothing() -> None:
    points = grid_points(8, 8.0)
    gt = torch.tensor([[[0.0, 0.0, 64.0, 64.0]]])
    labels = torch.tensor([[-1]])
    a = assign(torch.rand(1, 64, 3), torch.rand(1, 64, 4) * 64, points, labels, gt, labels >= 0)
    assert not a.fg.any() and float(a.scores.sum()) == 0.0


def test_ciou_and_dfl_values() -> None:
    box = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    assert torch.allclose(box_iou_pairs(box, box, ciou=True), torch.ones(1), atol=1e-5)
    shifted = torch.tensor([[5.0, 0.0, 15.0, 10.0]])
    assert float(box_iou_pairs(box, shifted)) == pytest.approx(50 / 150, rel=1e-4)
    assert float(box_iou_pairs(box, shifted, ciou=True)) < 50 / 150  # centre-distance penalty
    logits = torch.full((1, 4, 16), -20.0)
    logits[..., 3] = logits[..., 4] = 20.0
    near = dfl_loss(logits, torch.full((1, 4), 3.5))
    far = dfl_loss(logits, torch.full((1, 4), 9.0))
    assert float(near) < float(far)


def test_epoch_count_follows_the_mean_epoch_time() -> None:
    assert fit_epochs(600, 100, 1) == 6
    assert fit_epochs(600, 250, 2) == 4  # slower epochs since: fewer fit
    assert fit_epochs(600, 590, 5) == 5  # nothing more fits
    assert fit_epochs(600, 700, 5) == 5  # over budget: stop after this one


def test_ema_is_the_textbook_average_of_weights_and_buffers() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).train()
    ema = Ema(model, tau=5.0)
    want = {k: v.clone() for k, v in ema.model.state_dict().items()}
    for step in range(1, 4):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
            model(torch.rand(2, 3, 8, 8))  # BatchNorm statistics and its batch counter move
        ema.update()
        d = 0.9999 * (1 - np.exp(-step / 5.0))
        for k, v in model.state_dict().items():
            want[k] = d * want[k] + (1 - d) * v if v.is_floating_point() else v.clone()
    got = ema.model.state_dict()
    for k, v in want.items():
        assert torch.allclose(got[k], v.to(got[k].dtype), atol=1e-6), k
    assert int(got["1.num_batches_tracked"]) == 3
    assert not torch.allclose(got["0.weight"], model.state_dict()["0.weight"])


def test_schedule_warms_up_then_decays() -> None:
    lrs = [lr_at(s, 1000, 100, 0.002, 0.01) for s in range(1000)]
    assert lrs[0] < lrs[50] < lrs[99] == pytest.approx(0.002)
    assert lrs[999] == pytest.approx(0.002 * 0.01, rel=0.05)
    assert all(a >= b for a, b in zip(lrs[100:], lrs[101:]))


def test_augmented_boxes_stay_in_the_image_and_the_seed_repeats(shapes: Path) -> None:
    data = ShapesTrainSet(shapes / "images" / "train")
    first = [Augmenter(data, 128, seed=7).sample(i, mosaic=True) for i in range(6)]
    again = [Augmenter(data, 128, seed=7).sample(i, mosaic=True) for i in range(6)]
    for (img, boxes), (img2, boxes2) in zip(first, again):
        assert img.shape == (128, 128, 3) and img.dtype == np.uint8
        assert np.array_equal(img, img2) and np.array_equal(boxes, boxes2)
        if len(boxes):
            assert boxes[:, 1:].min() >= 0 and boxes[:, 1:].max() <= 128
            assert ((boxes[:, 3] - boxes[:, 1]) > 2).all() and ((boxes[:, 4] - boxes[:, 2]) > 2).all()
    assert sum(len(b) for _, b in first) > 0


@pytest.mark.slow
@pytest.mark.parametrize("family", ["yolov9", "damoyolo"])
def test_training_lowers_the_loss_and_the_checkpoint_loads(family: str, shapes: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    recipe = Recipe(family, 8, 128)
    data = ShapesTrainSet(shapes / "images" / "train")
    x, labels, boxes = collate([(data.images[i], data.boxes[i]) for i in range(4)])
    model = recipe.model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=0.002)
    ema = Ema(model)
    totals = []
    for _ in range(25):
        loss = sum(recipe.losses(model, x, labels, boxes).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        ema.update()
        totals.append(float(loss.detach()))
    assert totals[-1] < 0.6 * totals[0]
    path = tmp_path / f"{family}.pt"
    recipe.save(ema.model, path, 1, {"imgsz": 128})
    loaded = load_checkpoint(path)
    assert loaded.info.family == family
    assert loaded.info.variant == ("yolov9-custom" if family == "yolov9" else "damoyolo-custom")
    if family == "yolov9":
        assert loaded.model.pgi  # the PGI branch is saved, for edgekit to strip
    with torch.no_grad():
        got = loaded.model.eval()(x[:1] * recipe.pixel_scale)
        want = ema.model.eval()(x[:1] * recipe.pixel_scale)
    for a, b in zip(got[0] + got[1], want[0] + want[1]):
        assert torch.allclose(a, b, atol=0.05 * float(b.abs().max()) + 1e-3)  # FP16 storage


@pytest.mark.parametrize("family", ["yolov9", "damoyolo"])
def test_bf16_autocast_loss_is_close_to_float32_and_grads_stay_float32(family: str, shapes: Path) -> None:
    torch.manual_seed(0)
    recipe = Recipe(family, 8, 128)
    data = ShapesTrainSet(shapes / "images" / "train")
    x, labels, boxes = collate([(data.images[i], data.boxes[i]) for i in range(2)])
    model = recipe.model.train()
    full = {k: float(v) for k, v in recipe.losses(model, x, labels, boxes).items()}
    parts = recipe.losses(model, x, labels, boxes, bf16=True)
    assert all(v.dtype == torch.float32 for v in parts.values())
    for k, v in parts.items():
        assert abs(float(v) - full[k]) <= 0.05 * abs(full[k]) + 1e-3, (k, float(v), full[k])
    sum(parts.values()).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)


def test_channels_last_gives_the_same_yolov9_loss_and_is_refused_for_damoyolo(shapes: Path) -> None:
    torch.manual_seed(0)
    recipe = Recipe("yolov9", 8, 128)
    data = ShapesTrainSet(shapes / "images" / "train")
    x, labels, boxes = collate([(data.images[i], data.boxes[i]) for i in range(2)])
    model = recipe.model.eval()  # running BatchNorm statistics: both passes see the same model
    want = {k: float(v) for k, v in recipe.losses(model, x, labels, boxes).items()}
    recipe.use_channels_last()
    got = {k: float(v) for k, v in recipe.losses(recipe.model, x, labels, boxes).items()}
    assert recipe.model.model[0].conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert got == pytest.approx(want, rel=1e-4)
    with pytest.raises(SystemExit, match="segfaults"):
        Recipe("damoyolo", 8, 128).use_channels_last()
