"""Train edgekit's own YOLOv9-PGI or DAMO-YOLO modules into a fixture (developer tool).

    .venv/bin/python tools/train_family.py yolov9 --data /tmp/edgekit-shapes
    .venv/bin/python tools/train_family.py damoyolo --data /tmp/edgekit-shapes

No package here trains these families, so this compact trainer does, on edgekit's module
implementations (the very classes edgekit loads checkpoints into):

- ``yolov9``: a YOLOv9-t-style model at half the t widths (``small_arch(8)``) WITH its PGI
  auxiliary neck and ``DualDDetect`` dual head; the loss is the main branch's plus 0.25 x
  the auxiliary branch's, each with its own assignment, as the official dual-head loss.
- ``damoyolo``: a DAMO-YOLO-T-style model (TinyNAS_res with multi-branch RepConvs,
  GiraffeNeckV2 CSP stages with RepConvs, ZeroHead with GFL integral) at about half T's
  widths.

Task-aligned assignment and BCE + CIoU + DFL (``tools/detloss.py``); AdamW, linear warm-up
then cosine decay, EMA of the weights; mosaic until the last two epochs
(``tools/shapes_data.py``). ``--minutes`` bounds the training time: after every epoch the
epoch count is refitted to it at the mean epoch time (the LR schedule follows). The EMA
weights are saved in the family's official checkpoint layout (edgekit's writers), then scored
on the held-out test split with ``edgekit.eval``: the train-time form in PyTorch and the
deploy form as an edgekit bundle. The card goes beside the checkpoint.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import torch
from detloss import DetectionLoss, init_head_biases
from fixture_common import DATASET, ensure_dataset, evaluate_bundle, evaluate_torch, machine, to_float
from shapes_data import Augmenter, ShapesTrainSet
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "fixtures"
NAMES = ["circle", "square", "triangle", "star", "hexagon", "cross", "ring", "arrow"]


def damo_t_style():
    """TinyNAS_res L20 (DAMO-YOLO-T) structure at ~half width, neck and head halved too."""
    from edgekit.models.damoyolo.archs import ARCHS, _stages

    stages = (
        (12, 32, 12, 2, 2),
        (32, 48, 32, 2, 2),
        (48, 96, 48, 2, 2),
        (96, 96, 76, 1, 2),
        (96, 192, 96, 2, 1),
    )
    return ARCHS["damoyolo-t"].with_(
        name="damoyolo-t-half",
        stem_out=12,
        stages=_stages("k1kx", stages),
        neck_in=(48, 96, 192),
        neck_out=(32, 64, 128),
        imgsz=320,
    )


class Recipe:
    """A family's model, its loss terms and how its checkpoint is written."""

    def __init__(self, family: str, nc: int, imgsz: int) -> None:
        self.family = family
        if family == "yolov9":
            from edgekit.models.yolov9.archs import small_arch
            from edgekit.models.yolov9.build import build_model

            self.arch = small_arch(8, pgi=True)
            self.model = build_model(self.arch, nc=nc)
            head = self.model.head
            strides = tuple(int(s) for s in head.stride)
            self.strides, self.bins, self.offset, self.pixel_scale = strides, head.reg_max, 0.5, 1 / 255
            for box, cls in ((head.cv2, head.cv3), (head.cv4, head.cv5)):
                init_head_biases([b[-1] for b in box], [c[-1] for c in cls], self.strides, nc, imgsz)
        else:
            from edgekit.models.damoyolo.model import build_model

            self.arch = damo_t_style()
            self.model = build_model(self.arch, nc=nc)
            head = self.model.head
            self.strides, self.bins, self.offset, self.pixel_scale = (
                self.arch.strides,
                head.reg_max + 1,
                0.0,
                1.0,
            )
            init_head_biases(list(head.gfl_reg), list(head.gfl_cls), self.strides, nc, imgsz)
        self.loss = DetectionLoss(nc, self.strides, self.bins, self.offset)
        self.channels_last = False

    def use_channels_last(self) -> None:
        """Model and batches in channels-last memory (1.5x faster YOLOv9 steps with --bf16 here).
        Not for DAMO-YOLO: torch 2.13's CPU backward pass segfaults on it."""
        if self.family == "damoyolo":
            raise SystemExit("--channels-last: torch 2.13 segfaults in DAMO-YOLO's CPU backward pass")
        self.model = self.model.to(memory_format=torch.channels_last)
        self.channels_last = True

    def losses(
        self, model: nn.Module, x: torch.Tensor, labels, boxes, bf16: bool = False
    ) -> Dict[str, torch.Tensor]:
        """Loss terms of one batch; ``bf16``: the forward pass under CPU bfloat16 autocast (the
        weights, the loss and the optimizer stay float32)."""
        x = x * self.pixel_scale
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model.forward_all(x) if self.family == "yolov9" else model(x)
        out = to_float(out)
        if self.family == "yolov9":
            main, aux = self.loss(out["main"], labels, boxes), self.loss(out["aux"], labels, boxes)
            return {k: main[k] + 0.25 * aux[k] for k in main}
        return self.loss(out, labels, boxes)

    def save(self, ema: nn.Module, path: Path, epoch: int, opt: Dict[str, Any]) -> None:
        if self.family == "yolov9":
            from edgekit.models.yolov9.writer import write_official_checkpoint

            # a finished official run is stripped: model = EMA in FP16, no optimizer, epoch -1
            write_official_checkpoint(ema, path, names=dict(enumerate(NAMES)), epoch=-1, opt=opt)
        else:
            from edgekit.models.damoyolo.writer import write_official_checkpoint

            half = copy.deepcopy(ema).half()  # FP16 keeps the fixtures within their size budget
            write_official_checkpoint(half, path, epoch=epoch)


class Ema:
    """Exponential moving average of the weights (decay ramps up over ~2,000 steps).

    One ``torch._foreach_lerp_`` over all floating tensors per step (a per-tensor loop over the
    ~1,800 state tensors took 46 ms per step here, as long as the optimizer step)."""

    def __init__(self, model: nn.Module, decay: float = 0.9999, tau: float = 2000.0) -> None:
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, 0
        pairs = list(zip(self.model.state_dict().values(), model.state_dict().values()))
        floats = [(e, m) for e, m in pairs if e.is_floating_point()]
        self._floats = [[e for e, _ in floats], [m for _, m in floats]]
        self._others = [(e, m) for e, m in pairs if not e.is_floating_point()]

    @torch.no_grad()
    def update(self) -> None:
        """Move the average towards the model it was made from (its tensors are bound at init)."""
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        torch._foreach_lerp_(*self._floats, 1 - d)
        for e, m in self._others:
            e.copy_(m)


def param_groups(model: nn.Module, decay: float) -> List[Dict[str, Any]]:
    """Weight decay on conv/linear weights only (not on norms, biases or scales)."""
    with_decay, without = [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            (
                with_decay if name == "weight" and isinstance(module, (nn.Conv2d, nn.Linear)) else without
            ).append(p)
    return [{"params": with_decay, "weight_decay": decay}, {"params": without, "weight_decay": 0.0}]


def lr_at(step: int, total: int, warmup: int, lr0: float, lrf: float) -> float:
    if step < warmup:
        return lr0 * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr0 * (lrf + (1 - lrf) * 0.5 * (1 + math.cos(math.pi * t)))


def fit_epochs(budget_s: float, elapsed_s: float, done: int) -> int:
    """How many epochs fit in ``budget_s`` at the mean epoch time so far (never fewer than done)."""
    return done + max(0, int((budget_s - elapsed_s) // (elapsed_s / done)))


def train(
    recipe: Recipe, aug: Augmenter, args: argparse.Namespace, log: Callable[[str], None]
) -> Tuple[Ema, int]:
    model = recipe.model.train()
    ema = Ema(model)
    # fused: one kernel for all parameters (14 ms instead of 44 ms per step here)
    opt = torch.optim.AdamW(
        param_groups(model, args.weight_decay), lr=args.lr0, betas=(0.937, 0.999), fused=True
    )
    per_epoch = len(aug.data) // args.batch
    epochs, warmup = args.epochs, max(100, int(args.warmup_epochs * per_epoch))
    start, step, epoch = time.time(), 0, 0
    while epoch < epochs:
        mosaic = epoch < epochs - args.close_mosaic
        t0, sums = time.time(), {}
        for x, labels, boxes in aug.epoch(args.batch, mosaic):
            lr = lr_at(step, epochs * per_epoch, warmup, args.lr0, args.lrf)
            for g in opt.param_groups:
                g["lr"] = lr
            parts = recipe.losses(model, x, labels, boxes, args.bf16)
            loss = sum(parts.values())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            ema.update()
            step += 1
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            if step % 50 == 0:
                log(f"  step {step}  lr {lr:.5f}  " + "  ".join(f"{k} {v:.3f}" for k, v in parts.items()))
        epoch += 1
        took = time.time() - t0
        means = "  ".join(f"{k} {v / per_epoch:.3f}" for k, v in sums.items())
        log(f"epoch {epoch}/{epochs}  {took:.0f} s  mosaic {mosaic}  {means}")
        if args.minutes:  # refit after every epoch: this VM's speed drifts by 20 % within a run
            fit = fit_epochs(args.minutes * 60, time.time() - start, epoch)
            if fit < epochs:
                epochs = fit
                log(f"time budget {args.minutes} min: {epochs} epochs")
    return ema, epochs


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("family", choices=["yolov9", "damoyolo"])
    parser.add_argument("--data", type=Path, default=Path("/tmp/edgekit-shapes"))
    parser.add_argument("--epochs", type=int, default=30, help="upper bound; --minutes fits it to the budget")
    parser.add_argument("--minutes", type=float, default=36.0, help="training-time budget (0: no limit)")
    parser.add_argument("--imgsz", type=int, default=320, help="model size: the dataset's, scored at")
    parser.add_argument("--crop", type=int, default=256, help="training crop (objects keep their size)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr0", type=float, default=0.002)
    parser.add_argument("--lrf", type=float, default=0.01)
    parser.add_argument("--weight-decay", type=float, default=0.0005)
    parser.add_argument("--warmup-epochs", type=float, default=0.5)
    parser.add_argument("--close-mosaic", type=int, default=2)
    parser.add_argument("--train-images", type=int, default=0, help="use the first N train images (0: all)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--channels-last", action="store_true", help="channels-last memory (YOLOv9 only)")
    parser.add_argument(
        "--bf16", action="store_true", help="forward pass under bfloat16 autocast (CPUs with AVX512-BF16/AMX)"
    )
    parser.add_argument("--out", type=Path, default=FIXTURES)
    parser.add_argument(
        "--evaluate-only", action="store_true", help="re-score the saved fixture, no training"
    )
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    ensure_dataset(args.data)
    name = f"{args.family}-shapes"
    ckpt = args.out / f"{name}.pt"
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    if args.evaluate_only:
        card = json.loads(ckpt.with_suffix(".json").read_text())
    else:
        card = train_and_save(args, name, ckpt, log)
    card.update(score(ckpt, args.data, args.imgsz))
    ckpt.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    log(json.dumps({k: card[k] for k in ("name", "epochs", "train_wall_time_s")}))
    for form in ("test_metrics_train_form", "test_metrics_fp32"):
        log(f"{form}: " + "  ".join(f"{k} {card[form][k]:.4f}" for k in ("map50_95", "map50", "ap_small")))
    return 0


def train_and_save(
    args: argparse.Namespace, name: str, ckpt: Path, log: Callable[[str], None]
) -> Dict[str, Any]:
    """Train, write the checkpoint, and return the card's training facts."""
    recipe = Recipe(args.family, len(NAMES), args.imgsz)
    if args.channels_last:
        recipe.use_channels_last()
    data = ShapesTrainSet(args.data / "images" / "train", args.train_images)
    log(f"{name}: {sum(p.numel() for p in recipe.model.parameters()) / 1e6:.2f} M parameters")
    t0 = time.time()
    ema, epochs = train(recipe, Augmenter(data, args.crop, args.seed), args, log)
    wall = time.time() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    opt = {
        "imgsz": args.imgsz,
        "crop": args.crop,
        "batch_size": args.batch,
        "epochs": epochs,
        "seed": args.seed,
    }
    recipe.save(ema.model, ckpt, epochs, opt)
    return {
        "name": name,
        "family": args.family,
        "command": " ".join(["python", *sys.argv]),
        "seed": args.seed,
        "epochs": epochs,
        "minutes_budget": args.minutes,
        "imgsz": args.imgsz,
        "train_crop": args.crop,
        "batch": args.batch,
        "autocast": "bfloat16" if args.bf16 else None,
        "channels_last": args.channels_last,
        "optimizer": {"name": "AdamW", "lr0": args.lr0, "lrf": args.lrf, "weight_decay": args.weight_decay},
        "train_wall_time_s": round(wall, 1),
        "machine": machine(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "dataset": {**DATASET, "imgsz": 320},
    }


def score(ckpt: Path, data: Path, imgsz: int) -> Dict[str, Any]:
    """The card's model facts and held-out metrics, train-time form and deploy form."""
    from edgekit import load_checkpoint

    loaded = load_checkpoint(ckpt)  # the saved file as edgekit reads it: the train-time form
    train_form = evaluate_torch(loaded.model.eval(), loaded.info.head, loaded.info.preprocess.scale, data)
    return {
        "architecture": loaded.info.variant,
        "parameters": sum(p.numel() for p in loaded.model.parameters()),
        "test_metrics_fp32": evaluate_bundle(ckpt, data, imgsz),
        "test_metrics_train_form": train_form,
        "evaluated_with": (
            "edgekit.eval.evaluate; test_metrics_fp32: the onnxruntime FP32 bundle (deploy form), "
            "test_metrics_train_form: the loaded checkpoint in PyTorch before reparameterization; "
            "conf 0.001, iou 0.6, boxes clipped to the image"
        ),
    }


if __name__ == "__main__":
    sys.exit(main())
