"""The label-free INT8 check against the real mAP drop (dev-only): where ``INT8.min_fidelity`` comes from.

    .venv/bin/python benchmarks/int8_fidelity.py --data /tmp/edgekit-shapes/data.yaml
        [--fixtures A.pt B.pt ...] [--work DIR] [--images 32]

For each trained fixture (default: the committed YOLO11 / YOLO26 ones and the four held-out ones),
converts ``--target cpu`` FP32, INT8 (the defaults, no ``--val``) and the naive INT8 export (head
quantized, no fallback), calibrated on the set's train split; then, per INT8 model and backend
(onnxruntime, OpenVINO), prints ``edgekit.verify.fidelity`` (mAP50-95 against the FP32 model's
detections above ``TRUTH_CONF`` on the first ``--images`` val images: no labels used) beside the
real mAP50-95 drop on the labelled test split. Bundles are kept in ``--work`` and reused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
DEFAULT_FIXTURES = [DATA / "fixtures" / "yolo11-shapes.pt", DATA / "fixtures" / "yolo26-shapes.pt"]
VARIANTS = {
    "fp32": {"precision": "fp32"},
    "int8": {"precision": "int8"},
    "naive": {"precision": "int8", "quantize_head": True, "int8_fallback": False},
}


def bundle(checkpoint: Path, variant: str, data_yaml: Path, work: Path) -> Path:
    """``checkpoint`` converted for ``--target cpu`` as ``variant`` (kept and reused in ``work``)."""
    from edgekit import convert

    out = work / f"{checkpoint.stem}-{variant}.edgekit"
    if out.exists():
        return out
    options: Dict[str, Any] = {"target": "cpu", "imgsz": 320, "output": out, "measure": False}
    options.update(VARIANTS[variant])
    if options["precision"] == "int8":
        options.update(calib=data_yaml, calib_images=300, allow_accuracy_loss=True)
    return convert(checkpoint, **options)


def rows(checkpoint: Path, data_yaml: Path, work: Path, images: int) -> List[str]:
    """One table row per INT8 variant and backend of ``checkpoint``."""
    from edgekit.decoding.images import load_image
    from edgekit.detector import Detector
    from edgekit.eval.validate import PROTOCOLS, load_labelled_set, validate
    from edgekit.verify import Dets
    from edgekit.verify.fidelity import fidelity

    gt, folder = load_labelled_set(data_yaml, "val")
    frames = [load_image(folder / img["file_name"]) for img in gt["images"][:images]]
    shape = frames[0].shape[:2]  # the shapes set's images share one size
    p = PROTOCOLS["coco"]
    decode = {"conf": p.conf, "iou": p.iou, "max_det": p.max_det}
    out = []
    with Detector(bundle(checkpoint, "fp32", data_yaml, work), backend="onnxruntime") as ref:
        refs = [Dets.of(ref(f, **decode)) for f in frames]
        base = validate(ref, data_yaml, split="test")[0].map50_95
    for variant in ("int8", "naive"):
        path = bundle(checkpoint, variant, data_yaml, work)
        for backend in ("onnxruntime", "openvino"):
            with Detector(path, backend=backend) as det:
                got = [Dets.of(det(f, **decode)) for f in frames]
                value, truth = fidelity(list(zip(refs, got)), shape)
                drop = 100 * (base - validate(det, data_yaml, split="test")[0].map50_95)
            shown = "-" if value is None else f"{value:.4f}"
            out.append(f"{checkpoint.stem:<26}{variant:<8}{backend:<13}{shown:>9}{truth:>7}{drop:>10.2f}")
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="shapes data.yaml (train/val/test splits)")
    parser.add_argument("--fixtures", type=Path, nargs="*")
    parser.add_argument("--work", type=Path, default=Path("/tmp/edgekit-int8-fidelity"))
    parser.add_argument("--images", type=int, default=32, help="val images of the label-free check")
    args = parser.parse_args(argv)
    from edgekit.verify import INT8
    from edgekit.verify.fidelity import TRUTH_CONF

    fixtures = args.fixtures or DEFAULT_FIXTURES + sorted((DATA / "heldout").glob("*.pt"))
    args.work.mkdir(parents=True, exist_ok=True)
    table = [f"{'fixture':<26}{'variant':<8}{'backend':<13}{'fidelity':>9}{'truth':>7}{'drop pts':>10}"]
    for checkpoint in fixtures:
        table += rows(checkpoint, args.data, args.work, args.images)
    print(
        f"\nfidelity: mAP50-95 against FP32's detections above {TRUTH_CONF} on {args.images} val images "
        f"(no labels); drop: real mAP50-95 points on the test split; bound {INT8.min_fidelity}"
    )
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
