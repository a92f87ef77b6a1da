"""Train a segment / pose / OBB fixture with the real ``ultralytics`` package (developer tool).

    make fixture-venv                       # .venv-fixtures: torch pinned, ultralytics, edgekit
    .venv-fixtures/bin/python tools/train_task_fixture.py yolo11 segment --data /tmp/shapes-seg
    .venv-fixtures/bin/python tools/train_task_fixture.py yolo11 pose --data /tmp/shapes-pose

As ``train_fixture.py`` does for detection: (1) generate the seeded shapes dataset with the task's
labels if ``--data`` has none (``edgekit.testing.generate(..., task=...)``); (2) train the task
model from its official Ultralytics yaml (``yolo11n-seg.yaml``, ...) at one custom scale, from
scratch, on the CPU; (3) copy the final checkpoint (Ultralytics' own stripped layout: the EMA
weights in FP16) to ``tests/data/fixtures/<arch>-shapes-<suffix>.pt``; (4) score it on the
held-out test split twice: Ultralytics' own ``model.val(split="test")`` and edgekit's FP32
onnxruntime bundle through ``edgekit.eval.validate`` against the generator's COCO json (the exact
masks, keypoints and oriented boxes); (5) write the card ``<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Tuple

import torch
from fixture_common import DATASET, ensure_dataset
from train_fixture import (
    FIXTURES,
    card_run_fields,
    cpu_bf16_autocast,
    offline_ultralytics,
    train_settings,
    write_arch_yaml,
)

ARCHS = ("yolo11", "yolo26", "yolov8")
SUFFIX = {"segment": "seg", "pose": "pose", "obb": "obb"}  # Ultralytics' yaml / weight suffixes
# each task's headline figure (the issue's): its key in Ultralytics' results_dict, in edgekit's result
HEADLINE = {
    "segment": ("metrics/mAP50-95(M)", "map50_95"),
    "pose": ("metrics/mAP50-95(P)", "map50_95"),
    "obb": ("metrics/mAP50(B)", "map50"),
}


def task_model(arch: str, task: str) -> Tuple[str, str]:
    """The official yaml and the fixture name of ``arch`` for ``task``."""
    if arch not in ARCHS or task not in SUFFIX:
        raise ValueError(f"unknown arch/task {arch!r}/{task!r}: arch in {ARCHS}, task in {tuple(SUFFIX)}")
    return f"{arch}n-{SUFFIX[task]}.yaml", f"{arch}-shapes-{SUFFIX[task]}"


def floats(metrics: Dict[str, Any]) -> Dict[str, float]:
    return {k: round(float(v), 6) for k, v in metrics.items()}


def ultralytics_test(weights: Path, data_yaml: Path, imgsz: int, work: Path) -> Dict[str, float]:
    """Ultralytics' own figures for the saved checkpoint on the test split (its defaults:
    conf 0.001, IoU 0.7, multi-label)."""
    from ultralytics import YOLO

    results = YOLO(str(weights)).val(
        data=str(data_yaml),
        split="test",
        imgsz=imgsz,
        batch=16,
        device="cpu",
        plots=False,
        project=str(work),
        name="test",
        exist_ok=True,
        verbose=False,
        workers=2,
    )
    return floats(results.results_dict)


def edgekit_test(weights: Path, data: Path, imgsz: int) -> Dict[str, Any]:
    """The FP32 onnxruntime bundle (the deploy form) scored by ``edgekit.eval.validate`` on the test
    split's COCO json (boxes and the task's own metric)."""
    from edgekit import convert
    from edgekit.eval.validate import validate

    with tempfile.TemporaryDirectory() as tmp:
        bundle = convert(
            weights,
            target="cpu",
            backend="onnxruntime",
            precision="fp32",
            imgsz=imgsz,
            output=Path(tmp) / "b.edgekit",
            measure=False,
        )
        result, facts = validate(
            bundle, data / "annotations" / "test.json", split="test", images=data / "images" / "test"
        )
    boxes = result.to_dict()
    task = boxes.pop("task_result")
    return {"boxes": boxes, "task": task, "facts": facts}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("arch", choices=ARCHS)
    parser.add_argument("task", choices=sorted(SUFFIX))
    parser.add_argument("--data", type=Path, required=True, help="dataset folder (generated if empty)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs (an upper bound with --hours)")
    parser.add_argument("--hours", type=float, default=0.36, help="wall-time budget (0: epochs rule)")
    parser.add_argument("--train-images", type=int, default=1500)
    parser.add_argument("--imgsz", type=int, default=256, help="dataset and training size")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--depth", type=float, default=0.33)
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--optimizer", default="AdamW")
    parser.add_argument("--lr0", type=float, default=0.002)
    parser.add_argument("--warmup-epochs", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bf16", action="store_true", help="forward pass under CPU bfloat16 autocast")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: Ultralytics' choice)")
    parser.add_argument("--out", type=Path, default=FIXTURES)
    return parser.parse_args()


def train(args: argparse.Namespace, yaml_name: str, name: str, data_yaml: Path, work: Path):
    """Train from the official yaml at the custom scale; returns the model (its ``trainer`` kept)."""
    from ultralytics import YOLO

    if args.bf16:
        cpu_bf16_autocast()
    model = YOLO(str(write_arch_yaml(work, yaml_name, name, args.depth, args.width)), task=args.task)
    if args.threads:
        model.add_callback("on_pretrain_routine_start", lambda _: torch.set_num_threads(args.threads))
    model.train(
        **train_settings(args, data_yaml, work)
    )  # val=False: Ultralytics still validates (on the val split) after the final epoch
    return model


def main() -> int:
    args = parse_args()
    command = " ".join([Path(sys.executable).name, *sys.argv])
    yaml_name, name = task_model(args.arch, args.task)
    sizes = {"train": args.train_images, "val": 500, "test": 500}
    data_yaml = ensure_dataset(args.data, args.seed, sizes, task=args.task, imgsz=args.imgsz)
    work = Path(tempfile.mkdtemp(prefix="edgekit-train-"))
    ultralytics = offline_ultralytics(work)
    start = time.time()
    model = train(args, yaml_name, name, data_yaml, work)
    wall = time.time() - start
    trainer = model.trainer
    val_metrics = floats(trainer.metrics or {})
    args.out.mkdir(parents=True, exist_ok=True)
    dest = args.out / f"{name}.pt"
    shutil.copyfile(work / "run" / "weights" / "last.pt", dest)  # stripped by Ultralytics' final_eval
    test_ultralytics = ultralytics_test(dest, data_yaml, args.imgsz, work)
    ours = edgekit_test(dest, args.data, args.imgsz)
    epochs_trained = int(getattr(trainer, "epoch", args.epochs - 1)) + 1
    card = {
        **card_run_fields(args, name, yaml_name, command, epochs_trained, wall, ultralytics.__version__),
        "task": args.task,
        "dataset": {**DATASET, **sizes, "seed": args.seed, "imgsz": args.imgsz, "task": args.task},
        "val_metrics_ultralytics": val_metrics,
        "test_metrics_ultralytics": test_ultralytics,
        "test_metrics_fp32": ours["boxes"],
        "test_metrics_fp32_task": ours["task"],
        "evaluated_with": "edgekit.eval.validate on the onnxruntime FP32 bundle (--target cpu), "
        "annotations/test.json, protocol coco (conf 0.001, iou 0.6)",
    }
    (args.out / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n")
    peer_key, our_key = HEADLINE[args.task]
    print(json.dumps({"name": name, "train_wall_time_s": card["train_wall_time_s"]}, indent=2))
    print(f"ultralytics val {peer_key}: {val_metrics.get(peer_key)}  test: {test_ultralytics.get(peer_key)}")
    box, own = ours["boxes"]["map50_95"], ours["task"][our_key]
    print(f"edgekit test box map50_95 {box:.4f}  task {our_key} {own:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
