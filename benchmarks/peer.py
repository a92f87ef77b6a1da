"""Peer comparison (dev-only): the same weights through Ultralytics' own export + predict and through edgekit.

    .venv-fixtures/bin/python benchmarks/peer.py [--weights PT | --yolo11n] [--imgsz 320] [--runs 30]
                                                 [--val-images 50] [--head one2one|one2many]
                                                 [--int8 300] [--val-parity 300]

Needs the real ``ultralytics`` (``.venv-fixtures``); its torchvision ops come from
``/work/shared/tools/torchvision_cpu_shim.py`` (NMS = OpenCV's compiled NMS, not torchvision's), so
the peer's inference and post-processing are reported separately from its own ``Results.speed``.
Both sides run the same 1280x720 frame in this process, timed by the one harness
(``edgekit.timing``), with conf 0.25 / iou 0.45.
mAP (with ``--val-images``): a generated shapes val set, both sides scored by edgekit's one
evaluation module at conf 0.001 / iou 0.6. Untrained weights give mAP ~0: meaningless there.
``--int8 N``: N generated shapes train images (disjoint from the val set) calibrate Ultralytics'
OpenVINO INT8 export (NNCF, its own recipe) and edgekit's INT8 bundle (OpenVINO and onnxruntime);
with ``--val-images`` the last lines compare edgekit's fastest system whose mAP50-95 is within 0.2
points of its own FP32 with Ultralytics' fastest export (whatever its mAP).
``--val-parity N``: on N generated images, Ultralytics' own ``val`` (its evaluator, ``rect=True`` and
``rect=False``) against ``edgekit val --protocol ultralytics`` of one2many bundles at the matching
inputs (``benchmarks/peer_val.py``, whose docstring says how).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, Optional

from edgekit.timing import Schedule, alternating, by_stage, staged_ms

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden" / "ultralytics" / "yolo11_tiny.pt"
SHIM = Path("/work/shared/tools")
CONF, IOU = 0.25, 0.45


def import_ultralytics(config_dir: Path) -> Any:
    os.environ.update(YOLO_OFFLINE="True", YOLO_AUTOINSTALL="False", YOLO_CONFIG_DIR=str(config_dir))
    sys.path.insert(0, str(SHIM))
    import torchvision_cpu_shim  # noqa: F401  - torchvision.ops on CPU torch (before ultralytics)
    import ultralytics

    return ultralytics


def random_yolo11n(dest: Path) -> Path:
    """A full-size YOLO11n built from Ultralytics' yaml, random init, saved in its own checkpoint layout."""
    from ultralytics import YOLO

    model = YOLO("yolo11n.yaml")
    model.save(str(dest))
    return dest


class Peer:
    """Ultralytics ``YOLO(exported).predict`` on one frame; keeps its own ``speed`` per stage."""

    def __init__(self, path: Path, imgsz: int, name: str) -> None:
        from ultralytics import YOLO

        self.name, self.imgsz = name, imgsz
        self.model = YOLO(str(path), task="detect")
        self.stages: Dict[str, float] = {}

    def __call__(self, frame: Any, conf: float = CONF, iou: float = IOU) -> Any:
        result = self.model.predict(frame, imgsz=self.imgsz, conf=conf, iou=iou, verbose=False)[0]
        self.stages = {
            "preprocess": result.speed["preprocess"],
            "inference": result.speed["inference"],
            "decode": result.speed["postprocess"],
        }
        return result


def peer_map(peer: Peer, data_yaml: Path) -> float:
    """mAP50-95 of the peer on the set, scored by edgekit's evaluation module (same as ``validate``)."""
    from edgekit.decoding.images import load_image
    from edgekit.eval.coco import evaluate
    from edgekit.eval.validate import EVAL_CONF, EVAL_IOU, load_labelled_set

    gt, folder = load_labelled_set(data_yaml)
    preds = []
    for img in gt["images"]:
        r = peer(load_image(folder / img["file_name"]), conf=EVAL_CONF, iou=EVAL_IOU)
        boxes = r.boxes
        preds.append(
            {
                "image_id": img["id"],
                "boxes": boxes.xyxy.numpy(),
                "scores": boxes.conf.numpy(),
                "class_ids": boxes.cls.numpy().astype(int),
            }
        )
    return evaluate(gt, preds).map50_95


def shapes(work: Path, args: argparse.Namespace) -> Path:
    """The generated shapes set (``--int8`` train images for calibration, ``--val-images`` to score)."""
    from edgekit.testing import generate

    root = work / "shapes"
    if not (root / "data.yaml").exists():
        generate(root, args.int8, args.val_images, 0, seed=2026, imgsz=args.imgsz)
    return root / "data.yaml"


def add_int8(systems: Dict[str, Any], weights: Path, args: argparse.Namespace, work: Path) -> None:
    """Ultralytics' OpenVINO INT8 export and edgekit's INT8 bundle, both calibrated on the same
    ``args.int8`` train images."""
    from ultralytics import YOLO

    from edgekit import convert
    from edgekit.detector import Detector

    data_yaml = shapes(work, args)
    try:
        ov_dir = YOLO(str(weights)).export(
            format="openvino", imgsz=args.imgsz, int8=True, data=str(data_yaml), split="train"
        )
        systems["ultralytics openvino int8"] = Peer(Path(ov_dir), args.imgsz, "openvino-int8")
    except Exception as exc:  # noqa: BLE001 - report and go on without it
        print(f"ultralytics openvino int8 export failed: {str(exc).splitlines()[0] if str(exc) else exc}")
    bundle = convert(
        weights,
        target="cpu",
        imgsz=args.imgsz,
        precision="int8",
        calib=data_yaml.parent / "images" / "train",
        calib_images=args.int8,
        output=work / "edgekit-int8.edgekit",
        measure=False,
        **({"head": args.head} if args.head else {}),
    )
    for backend in ("openvino", "onnxruntime"):
        systems[f"edgekit {backend} int8"] = Detector(bundle, backend=backend, threads=args.threads)


def fastest_within(med: Dict[str, Dict[str, float]], maps: Dict[str, float], points: float = 0.2) -> None:
    """edgekit's fastest system within ``points`` mAP50-95 of its own FP32 against the peer's fastest."""
    fp32 = max(v for n, v in maps.items() if n.startswith("edgekit") and n.endswith("fp32"))
    ours = [n for n in med if n.startswith("edgekit") and n in maps and 100 * (fp32 - maps[n]) <= points]
    peers = [n for n in med if n.startswith("ultralytics")]
    if not ours or not peers:
        return
    best = min(ours, key=lambda n: med[n]["total"])
    peer = min(peers, key=lambda n: med[n]["total"])
    peer_map_text = f"{100 * maps[peer]:.2f}" if peer in maps else "-"
    print()
    print(
        f"edgekit's fastest within {points} mAP50-95 points of its FP32 ({100 * fp32:.2f}): {best} "
        f"({med[best]['total']:.2f} ms, mAP {100 * maps[best]:.2f})"
    )
    print(f"ultralytics' fastest: {peer} ({med[peer]['total']:.2f} ms, mAP {peer_map_text})")
    print(f"ratio: {med[peer]['total'] / med[best]['total']:.2f}x")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=GOLDEN)
    parser.add_argument("--yolo11n", action="store_true", help="a full-size random-init YOLO11n instead")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--val-images", type=int, default=0, help="generate a shapes val set: adds mAP")
    parser.add_argument(
        "--head",
        choices=("one2one", "one2many"),
        help="dual-head models (YOLOv10, YOLO26): the head edgekit exports (default: edgekit's, one2one); "
        "Ultralytics' own export and val run one2many + NMS",
    )
    parser.add_argument("--int8", type=int, default=0, metavar="N", help="add INT8 on N calibration images")
    parser.add_argument(
        "--val-parity", type=int, default=0, metavar="N", help="yolo val vs edgekit val on N images"
    )
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="edgekit-peer-"))
    import_ultralytics(work / "yolo-config")
    import torch

    torch.set_num_threads(args.threads)
    from edgekit import convert
    from edgekit.bench import benchmark_frame
    from edgekit.detector import Detector
    from edgekit.eval.validate import validate

    if args.yolo11n:
        weights = random_yolo11n(work / "yolo11n_random.pt")
    else:  # Ultralytics exports beside the weights: work on a copy, never in the repository
        weights = work / args.weights.name
        shutil.copyfile(args.weights, weights)
    from ultralytics import YOLO

    systems: Dict[str, Any] = {}
    onnx_path = YOLO(str(weights)).export(format="onnx", imgsz=args.imgsz, simplify=True)
    systems["ultralytics onnxruntime fp32"] = Peer(Path(onnx_path), args.imgsz, "onnx")
    try:
        ov_dir = YOLO(str(weights)).export(format="openvino", imgsz=args.imgsz)
        systems["ultralytics openvino (its default hint)"] = Peer(Path(ov_dir), args.imgsz, "openvino")
    except Exception as exc:  # noqa: BLE001 - report and go on without the OpenVINO peer
        print(f"ultralytics openvino export failed: {str(exc).splitlines()[0] if str(exc) else exc}")
    bundle = convert(
        weights,
        target="cpu",
        precision="fp32",  # true f32; the bf16 system below is the same IR with the bf16 hint
        imgsz=args.imgsz,
        output=work / "edgekit.edgekit",
        measure=False,
        **({"head": args.head} if args.head else {}),
    )
    systems["edgekit onnxruntime fp32"] = Detector(bundle, backend="onnxruntime", threads=args.threads)
    systems["edgekit openvino fp32"] = Detector(bundle, backend="openvino", threads=args.threads)
    systems["edgekit openvino bf16"] = Detector(
        bundle, backend="openvino", threads=args.threads, precision="bf16"
    )
    if args.int8:
        add_int8(systems, weights, args, work)
    frame = benchmark_frame()
    for system in systems.values():
        for _ in range(5):
            system(frame)
    for name, system in systems.items():
        compiled = getattr(getattr(getattr(system, "model", None), "predictor", None), "model", None)
        compiled = getattr(compiled, "ov_compiled_model", None)
        if compiled is not None:  # the precision Ultralytics' OpenVINO model really runs in
            print(f"{name}: INFERENCE_PRECISION_HINT = {compiled.get_property('INFERENCE_PRECISION_HINT')}")

    def stages(system: Any) -> Any:
        return (lambda: system.stages) if isinstance(system, Peer) else (lambda: system.timings)

    calls = [staged_ms(partial(system, frame), stages(system)) for system in systems.values()]
    schedule = Schedule.for_runs(args.runs)  # the one harness: rotating warmed blocks, a pause per switch
    samples = {name: by_stage(runs) for name, runs in zip(systems, alternating(calls, schedule))}
    maps: Dict[str, float] = {}
    if args.val_images:
        data_yaml = shapes(work, args)
        for name, system in systems.items():
            maps[name] = (
                peer_map(system, data_yaml)
                if isinstance(system, Peer)
                else validate(system, data_yaml)[0].map50_95
            )
    med = {n: {k: statistics.median(v) for k, v in s.items()} for n, s in samples.items()}
    print(
        f"\nweights {weights.name}, {args.imgsz}x{args.imgsz}, 1280x720 frame, {schedule.describe()}, "
        f"{args.threads} threads; medians in ms (peer stages from Ultralytics' Results.speed)"
    )
    print(f"{'system':<40}{'pre':>8}{'infer':>8}{'post':>8}{'total':>8}{'mAP50-95':>10}")
    for name, m in med.items():
        mp = f"{maps[name]:.3f}" if name in maps else "-"
        print(
            f"{name:<40}{m['preprocess']:>8.2f}{m['inference']:>8.2f}{m['decode']:>8.2f}{m['total']:>8.2f}{mp:>10}"
        )
    print("\nratios (Ultralytics / edgekit, end-to-end median; > 1 means edgekit is faster):")
    pairs = [
        ("ultralytics onnxruntime fp32", "edgekit onnxruntime fp32"),
        ("ultralytics openvino (its default hint)", "edgekit openvino fp32"),
        ("ultralytics openvino (its default hint)", "edgekit openvino bf16"),
        ("ultralytics openvino int8", "edgekit openvino int8"),
    ]
    for peer_name, ours in pairs:
        if peer_name in med:
            line = f"  {peer_name} / {ours}: total {med[peer_name]['total'] / med[ours]['total']:.2f}x, "
            line += f"inference {med[peer_name]['inference'] / med[ours]['inference']:.2f}x"
            if peer_name in maps:
                line += f", mAP50-95 {maps[peer_name]:.3f} vs {maps[ours]:.3f}"
            print(line)
    if maps:
        fastest_within(med, maps)
    if args.val_parity:
        from peer_val import parity, val_set

        parity(weights, val_set(work, args.val_parity, args.imgsz), args.imgsz, work)
    untrained = args.yolo11n or weights.name == GOLDEN.name
    print(
        ("(weights are untrained: mAP is meaningless; " if untrained else "(")
        + "the peer's NMS is OpenCV's via the shim)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
