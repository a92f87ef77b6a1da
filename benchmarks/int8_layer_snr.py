"""Per-layer SNR loss of valid INT8 models against FP32, beside the one fault output-space bounds
miss (one weight DequantizeLinear scale x10): what a per-layer INT8 bound is chosen from.

    python benchmarks/int8_layer_snr.py --work /tmp/snrwork [--images 8]

Reads the INT8 bundles ``benchmarks/int8_box_snr.py --work DIR`` left in DIR (one per fixture and
flavour), exports each fixture's FP32 ONNX again (the quantizers' source: same export, same node
names), and ranks every convolution by the SNR it loses itself (its input's SNR minus its output's,
``edgekit.calibration.accuracy``), on calibration-disjoint generated images: onnxruntime's Q/DQ
model and the TensorRT-ready Q/DQ ONNX in onnxruntime, NNCF's IR in OpenVINO. Then the same for
the yolo11 fixture's onnxruntime model with the fault of ``tests/verify/test_faults.py`` injected.
Prints per model the three worst layers and the largest loss.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.verify.faults


def fp32_source(fixture: Path, imgsz: int, work: Path) -> Path:
    from edgekit.converters.engine import convert

    out = work / f"{fixture.stem}-fp32.edgekit"
    if not out.exists():
        convert(
            fixture,
            output=out,
            imgsz=imgsz,
            backend="onnxruntime",
            host_io=False,
            verify=False,
            measure=False,
        )
    return out / "model.onnx"


def check_inputs(bundle: Path, images: Path, count: int, skip: int) -> List[np.ndarray]:
    from edgekit.bundle import read_bundle
    from edgekit.decoding import Preprocessor, load_image

    m = read_bundle(bundle).manifest
    pre = Preprocessor(m.preprocess, m.input)
    files = sorted(images.glob("*.jpg"))[skip : skip + count]
    out = []
    for f in files:
        pixels, _ = pre(load_image(f))  # the float model's input: already scaled
        out.append(np.asarray(pixels, np.float32))
    return out


def losses(fp32: Path, int8: Path, inputs: Sequence[np.ndarray]) -> List[Tuple[str, float]]:
    import onnx

    from edgekit.calibration.accuracy import layer_sensitivity, openvino_layer_sensitivity
    from edgekit.calibration.float_scope import conv_nodes

    nodes = conv_nodes(onnx.load(str(fp32)))
    if int8.suffix == ".xml":
        return openvino_layer_sensitivity(fp32, int8, inputs, nodes)
    return layer_sensitivity(fp32, int8, inputs, nodes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="the folder int8_box_snr.py --work wrote")
    parser.add_argument("--fixtures", type=Path, default=ROOT / "tests" / "data" / "fixtures")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--calib-images", type=int, default=100, help="as int8_box_snr.py used")
    args = parser.parse_args()
    images = args.work / "shapes" / "images" / "train"
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgekit-layer-") as tmp:
        for fixture in sorted(args.fixtures.glob("*.pt")):
            fp32 = fp32_source(fixture, args.imgsz, args.work)
            inputs = check_inputs(fp32.parent, images, args.images, args.calib_images)
            for bundle in sorted(args.work.glob(f"{fixture.stem}-*.edgekit")):
                manifest = json.loads((bundle / "manifest.json").read_text())
                for art in manifest["artifacts"]:
                    if art["precision"] == "fp32" or art["backend"] == "tflite":
                        continue
                    ranked = losses(fp32, bundle / art["path"], inputs)
                    rows.append((fixture.stem, f"{bundle.stem.split('-')[-1]}/{art['backend']}", ranked))
            if fixture.stem == "yolo11-shapes":
                from tests.verify.faults import scale_one_weight  # the fault test's own injection

                faulted = Path(tmp) / "faulted.onnx"
                tensor = scale_one_weight(
                    args.work / "yolo11-shapes-cpu.edgekit" / "model.int8.onnx", faulted
                )
                rows.append((fixture.stem, f"FAULT x10 at {tensor}", losses(fp32, faulted, inputs)))
    for fixture, what, ranked in rows:
        worst = ", ".join(f"{n} {loss:.1f}" for n, loss in ranked[:3])
        print(f"{fixture:<16} {what:<44} worst loss {ranked[0][1]:6.1f} dB   ({worst})")
    valid = [r[2][0][1] for r in rows if not r[1].startswith("FAULT")]
    print(f"\nlargest per-layer SNR loss of a valid INT8 model: {max(valid):.1f} dB over {len(valid)} models")
    return 0


if __name__ == "__main__":
    sys.exit(main())
