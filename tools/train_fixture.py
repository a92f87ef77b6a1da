"""Train a trained-detector fixture with the real ``ultralytics`` package (developer tool).

    make fixture-venv                       # .venv-fixtures: torch pinned, ultralytics, edgekit
    .venv-fixtures/bin/python tools/train_fixture.py yolo11 --data /tmp/shapes
    .venv-fixtures/bin/python tools/train_fixture.py yolo26 --data /tmp/shapes

Steps: (1) generate the synthetic shapes dataset if ``--data`` has none (edgekit.testing,
seeded); (2) train the architecture from its Ultralytics yaml, from scratch, seeded, on the CPU;
(3) copy the final checkpoint (Ultralytics' own stripped layout: the EMA weights in FP16) to
``tests/data/fixtures/<name>.pt``; (4) convert it with edgekit (FP32, onnxruntime) and evaluate
it on the held-out test split with ``edgekit.eval`` (the one evaluation module); (5) write the
card ``tests/data/fixtures/<name>.json`` with the exact command, seed, wall time and metrics.

The same weights load in Ultralytics (``YOLO(path)``) and in edgekit (``edgekit.load_checkpoint``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict

import torch
from fixture_common import DATASET, ensure_dataset, evaluate_bundle, machine, to_float

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "fixtures"
SHIM = ROOT.parent / "shared" / "tools"

# architecture -> (official ultralytics yaml, fixture name); the scale is set by --depth/--width
MODELS = {
    "yolo11": ("yolo11n.yaml", "yolo11-shapes"),
    "yolo26": ("yolo26n.yaml", "yolo26-shapes"),
    "rtdetr": ("rtdetr-l.yaml", "rtdetr-shapes"),
}


RTDETR_CARD = {
    "architecture": "tools/train_fixture.py narrow_rtdetr(nc=8): rtdetr-l.yaml's layout (HGNetv2, AIFI, "
    "RepC3 FPN/PAN, RTDETRDecoder) at narrow widths: neck 64, decoder hidden 64, 100 queries, 4 points, "
    "4 heads, 3 layers",
    "scale": None,
    "parameters": 1106176,
}


def narrow_rtdetr(nc: int, width: int = 64, hidden: int = 64, queries: int = 100) -> dict:
    """rtdetr-l.yaml's layout (HGNetv2 backbone, AIFI, RepC3 FPN/PAN, RTDETRDecoder) at narrow widths:
    Ultralytics does not scale HGStem / HGBlock / AIFI / decoder widths, so they are written here.
    Decoder: ``hidden`` channels, ``queries`` queries, 4 points, 4 heads, 3 layers, FFN 4 x hidden."""
    w = width
    backbone = [
        [-1, 1, "HGStem", [16, 32]],
        [-1, 2, "HGBlock", [16, 64, 3]],
        [-1, 1, "DWConv", [64, 3, 2, 1, False]],
        [-1, 2, "HGBlock", [32, 128, 3]],
        [-1, 1, "DWConv", [128, 3, 2, 1, False]],
        [-1, 2, "HGBlock", [48, 192, 5, True, False]],
        [-1, 2, "HGBlock", [48, 192, 5, True, True]],
        [-1, 1, "DWConv", [192, 3, 2, 1, False]],
        [-1, 2, "HGBlock", [64, 256, 5, True, False]],
    ]
    head = [
        [-1, 1, "Conv", [w, 1, 1, None, 1, 1, False]],
        [-1, 1, "AIFI", [4 * w, 4]],
        [-1, 1, "Conv", [w, 1, 1]],
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [6, 1, "Conv", [w, 1, 1, None, 1, 1, False]],
        [[-2, -1], 1, "Concat", [1]],
        [-1, 2, "RepC3", [w]],
        [-1, 1, "Conv", [w, 1, 1]],
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [3, 1, "Conv", [w, 1, 1, None, 1, 1, False]],
        [[-2, -1], 1, "Concat", [1]],
        [-1, 2, "RepC3", [w]],
        [-1, 1, "Conv", [w, 3, 2]],
        [[-1, 16], 1, "Concat", [1]],
        [-1, 2, "RepC3", [w]],
        [-1, 1, "Conv", [w, 3, 2]],
        [[-1, 11], 1, "Concat", [1]],
        [-1, 2, "RepC3", [w]],
        [[20, 23, 26], 1, "RTDETRDecoder", [nc, hidden, queries, 4, 4, 3, 4 * hidden]],
    ]
    return {"nc": nc, "scales": {"n": [1.0, 1.0, 1024]}, "scale": "n", "backbone": backbone, "head": head}


def offline_ultralytics(workdir: Path):
    """Import ultralytics offline, with torchvision ops served on the CPU torch."""
    os.environ.update(YOLO_OFFLINE="True", YOLO_AUTOINSTALL="False", YOLO_CONFIG_DIR=str(workdir / "cfg"))
    sys.path.insert(0, str(SHIM))
    import torchvision_cpu_shim  # noqa: F401
    import ultralytics

    return ultralytics


def card_run_fields(
    args: argparse.Namespace,
    name: str,
    yaml_name: str,
    command: str,
    epochs_trained: int,
    wall: float,
    version: str,
) -> Dict[str, Any]:
    """What every fixture card says of its training run (both training tools write these)."""
    return {
        "name": name,
        "architecture": yaml_name,
        "scale": {"depth": args.depth, "width": args.width, "max_channels": 1024},
        "optimizer": {"name": args.optimizer, "lr0": args.lr0, "warmup_epochs": args.warmup_epochs},
        "command": command,
        "seed": args.seed,
        "epochs": args.epochs,
        "hours_budget": args.hours,
        "epochs_trained": epochs_trained,
        "imgsz": args.imgsz,
        "batch": args.batch,
        "autocast": "bfloat16" if args.bf16 else None,
        "train_wall_time_s": round(wall, 1),
        "machine": machine(),
        "ultralytics": version,
    }


def cpu_bf16_autocast() -> None:
    """Let Ultralytics train with ``amp="bf16"`` on a CPU (AVX512-BF16 / AMX).

    Its ``autocast`` helper allows bfloat16 on CUDA only, while torch autocasts on CPUs too. The
    forward pass runs under CPU bf16 autocast; its predictions go back to float32 and the loss
    (assignment, IoU, DFL) runs without autocast, as ``train_family.py --bf16`` does. Weights,
    optimizer and EMA stay float32; the saved checkpoint is Ultralytics' usual one (nothing of this
    tool is pickled into it: the patches are on the classes, not on the model instances).
    """
    from ultralytics.engine import trainer
    from ultralytics.nn.tasks import BaseModel

    helper, loss = trainer.autocast, BaseModel.loss

    def autocast(enabled, device: str = "cuda"):
        if enabled is torch.bfloat16 and device == "cpu":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return helper(enabled, device=device)

    def float_loss(self, batch, preds=None):
        if preds is None and torch.is_autocast_enabled("cpu"):
            preds = to_float(self.forward(batch["img"]))
            with torch.autocast("cpu", enabled=False):
                return loss(self, batch, preds)
        return loss(self, batch, preds)

    trainer.autocast, BaseModel.loss = autocast, float_loss


def add_p2_level(arch: dict) -> dict:
    """Add a stride-4 (P2) detection level the way Ultralytics' ``yolov8-p2`` / ``yolo26-p2`` yamls do.

    After the head's P3 output: upsample, concat the backbone's P2 layer (index 2), the P3 block at
    half width (the P2 output), then a stride-2 conv back down, concat P3 and the P3 block again
    (the new P3 output). Later rows' layer indices shift by six; Detect takes P2, P3, P4 and P5.
    """
    backbone, head = arch["backbone"], [list(row) for row in arch["head"]]
    detect = head[-1]
    p3, p4, p5 = detect[0]
    at = p3 - len(backbone) + 1  # head position right after the P3 output row
    _, repeats, block, (width, *block_args) = head[at - 1]  # the P3 row: C2f / C3k2, channels first
    upsample = next(row for row in head if row[2] == "nn.Upsample")
    inserted = [
        list(upsample),
        [[-1, 2], 1, "Concat", [1]],
        [-1, repeats, block, [width // 2, *block_args]],
        [-1, 1, "Conv", [width // 2, 3, 2]],
        [[-1, p3], 1, "Concat", [1]],
        [-1, repeats, block, [width, *block_args]],
    ]

    def shift(f):
        if isinstance(f, list):
            return [shift(x) for x in f]
        return f + len(inserted) if f > p3 else f

    rest = [[shift(row[0]), *row[1:]] for row in head[at:-1]]
    new_p3 = p3 + len(inserted)
    detect = [[p3 + 3, new_p3, shift(p4), shift(p5)], *detect[1:]]
    return {**arch, "head": [*head[:at], *inserted, *rest, detect]}


def write_arch_yaml(
    workdir: Path, yaml_name: str, name: str, depth: float, width: float, p2: bool = False
) -> Path:
    """The official architecture yaml with one custom scale (depth, width, max channels 1024)."""
    import yaml
    from ultralytics.nn.tasks import yaml_model_load

    d = yaml_model_load(yaml_name)
    d.pop("yaml_file", None)
    if p2:
        d = add_p2_level(d)
    d["scales"] = {"n": [depth, width, 1024]}
    d["scale"] = "n"
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return path


def train_settings(args: argparse.Namespace, data_yaml: Path, work: Path) -> dict:
    """The ``model.train`` settings every fixture is trained with (the task fixtures' tool too)."""
    return dict(
        data=str(data_yaml),
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        workers=2,
        device="cpu",
        seed=args.seed,
        deterministic=True,
        amp="bf16" if args.bf16 else False,
        plots=False,
        project=str(work),
        name="run",
        exist_ok=True,
        verbose=False,
        close_mosaic=2,
        time=args.hours or None,
        val=False,  # validation each epoch costs training time; the held-out test split is scored after
        optimizer=args.optimizer,
        lr0=args.lr0,
        warmup_epochs=args.warmup_epochs,
        cos_lr=True,
        nbs=args.batch,  # one optimizer step per batch: CPU budgets allow few images, not few steps
        cache="ram",
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("arch", choices=sorted(MODELS))
    parser.add_argument("--data", type=Path, default=Path("/tmp/edgekit-shapes"))
    parser.add_argument("--epochs", type=int, default=12, help="epochs (an upper bound with --hours)")
    parser.add_argument(
        "--hours",
        type=float,
        default=0.45,
        help="wall-time budget: Ultralytics fits the epoch count and LR schedule to it (0: epochs rule)",
    )
    parser.add_argument("--train-images", type=int, default=4000)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--fraction", type=float, default=1.0, help="share of the train split to use")
    parser.add_argument("--depth", type=float, default=0.33, help="depth multiple of the custom scale")
    parser.add_argument("--width", type=float, default=0.125, help="width multiple of the custom scale")
    parser.add_argument(
        "--p2", action="store_true", help="add a stride-4 detection level for objects under 16 px"
    )
    parser.add_argument("--optimizer", default="AdamW")
    parser.add_argument("--lr0", type=float, default=0.002)
    parser.add_argument("--warmup-epochs", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--bf16", action="store_true", help="forward pass under bfloat16 autocast (CPUs with AVX512-BF16/AMX)"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: Ultralytics' cpu_count-1)")
    parser.add_argument("--out", type=Path, default=FIXTURES)
    parser.add_argument("--name", help="fixture name (default: the architecture's, e.g. yolo11-shapes)")
    args = parser.parse_args()
    command = " ".join([Path(sys.executable).name, *sys.argv])
    yaml_name, name = MODELS[args.arch]
    name = args.name or name
    data_yaml = ensure_dataset(args.data, 0, {"train": args.train_images, "val": 500, "test": 500})
    work = Path(tempfile.mkdtemp(prefix="edgekit-train-"))
    ultralytics = offline_ultralytics(work)
    from ultralytics import YOLO

    if args.bf16:
        cpu_bf16_autocast()
    start = time.time()
    if args.arch == "rtdetr":  # Ultralytics' RT-DETR trainer (Hungarian matching, denoising queries)
        import yaml
        from ultralytics import RTDETR

        arch_yaml = work / f"{name}.yaml"
        arch_yaml.write_text(yaml.safe_dump(narrow_rtdetr(nc=8), sort_keys=False))
        model = RTDETR(str(arch_yaml))
    else:
        model = YOLO(str(write_arch_yaml(work, yaml_name, name, args.depth, args.width, args.p2)))
    if args.threads:  # Ultralytics sets torch to cpu_count - 1 threads when it selects the CPU
        model.add_callback("on_pretrain_routine_start", lambda _: torch.set_num_threads(args.threads))
    train_threads: dict = {}  # read as training starts: the final evaluation runs under other settings
    model.add_callback("on_train_start", lambda _: train_threads.setdefault("n", torch.get_num_threads()))
    model.train(**train_settings(args, data_yaml, work), fraction=args.fraction)
    wall = time.time() - start
    trained_epochs = int(getattr(model.trainer, "epoch", args.epochs - 1)) + 1
    last = work / "run" / "weights" / "last.pt"
    args.out.mkdir(parents=True, exist_ok=True)
    dest = args.out / f"{name}.pt"
    shutil.copyfile(last, dest)
    metrics = evaluate_bundle(dest, args.data, args.imgsz)
    card = {
        **card_run_fields(args, name, yaml_name, command, trained_epochs, wall, ultralytics.__version__),
        **(RTDETR_CARD if args.arch == "rtdetr" else {}),
        "p2_level": args.p2,
        "fraction": args.fraction,
        "torch_threads": train_threads.get("n"),
        "dataset": {**DATASET, "train": args.train_images, "imgsz": 320},
        "test_metrics_fp32": metrics,
        "evaluated_with": "edgekit.eval.evaluate on the onnxruntime FP32 bundle, conf 0.001, iou 0.6",
    }
    (args.out / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps({k: card[k] for k in ("name", "train_wall_time_s")}, indent=2))
    print({k: metrics[k] for k in ("map50_95", "map50", "ap_small")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
