"""Where onnxruntime's INT8 time goes: per-operator kernel time of the FP32 and the Q/DQ INT8 model.

    python benchmarks/ort_int8_profile.py [--imgsz 320] [--threads 1] [--runs 10]

A YOLO11n-size model (edgekit's build, 80 classes, untrained with randomized BatchNorm
statistics, as ``benchmarks/int8.py``'s speed table) is converted by edgekit's engine to the
onnxruntime FP32 model and to its Q/DQ INT8 model (min/max ranges on 8 shapes images: speed only).
A third model quantizes everything but the SiLU activations (their Sigmoid and Mul stay float).
onnxruntime's own profiler times every kernel; the table sums them by operator type (ms per run,
after onnxruntime's graph optimizations, which fuse Q/DQ pairs into QLinear* kernels and SiLU into
QuickGelu in FP32). The baseline is the FP32 model of the same run.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

DATA = Path("/tmp/edgekit-shapes")


def build(work: Path, imgsz: int) -> Dict[str, Path]:
    """The FP32 ONNX and its Q/DQ INT8 model, both written by edgekit's conversion engine."""
    from edgekit.converters.engine import ConvertOptions, convert_loaded

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from int8 import ensure_data, speed_model  # the speed table's network and dataset

    data_yaml = ensure_data(DATA)
    loaded = speed_model()
    models = {}
    for precision in ("fp32", "int8"):
        opts = ConvertOptions(
            target="x86-vnni",
            backend="onnxruntime",
            imgsz=imgsz,
            precision=precision,
            verify=False,
            measure=False,
            calib=data_yaml if precision == "int8" else None,
            calib_images=8,
            allow_small_calib=True,
            calib_method="minmax",
            allow_accuracy_loss=True,
            int8_fallback=False,  # untrained weights: time the first quantization, as benchmarks/int8.py
            host_io=False,
        )
        bundle = convert_loaded(loaded, work / f"{precision}.edgekit", opts)
        models[precision] = next(bundle.glob("*.onnx"))
    models["int8, SiLU float"] = quantize_without_silu(models["fp32"], work / "no-silu.onnx", imgsz)
    return models


def quantize_without_silu(source: Path, dest: Path, imgsz: int) -> Path:
    """The same Q/DQ scheme (U8S8, per-channel, min/max) with Sigmoid and Mul left float."""
    from onnxruntime import quantization as q
    from onnxruntime.quantization.registry import QDQRegistry

    class Reader(q.CalibrationDataReader):
        def __init__(self) -> None:
            self.left = 4

        def get_next(self) -> Optional[Dict[str, np.ndarray]]:
            if not self.left:
                return None
            self.left -= 1
            rng = np.random.default_rng(self.left)
            return {"images": rng.random((1, 3, imgsz, imgsz), dtype=np.float32)}

    q.quantize_static(
        str(source),
        str(dest),
        Reader(),
        quant_format=q.QuantFormat.QDQ,
        per_channel=True,
        activation_type=q.QuantType.QUInt8,
        weight_type=q.QuantType.QInt8,
        op_types_to_quantize=[o for o in QDQRegistry if o not in ("Sigmoid", "Mul")],
        calibrate_method=q.CalibrationMethod.MinMax,
        extra_options={"WeightSymmetric": True},
    )
    return dest


def profile(path: Path, imgsz: int, threads: int, runs: int) -> Tuple[float, List[Tuple[str, float]]]:
    """(total kernel ms per run, [(operator type, ms per run)] largest first)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.enable_profiling = True
    opts.profile_file_prefix = str(path.with_suffix(""))
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
    name = session.get_inputs()[0].name
    session.run(None, {name: x})  # first run: allocations, not timed below
    for _ in range(runs):
        session.run(None, {name: x})
    events = json.loads(Path(session.end_profiling()).read_text())
    per_op: Dict[str, float] = collections.Counter()
    seen = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            seen[e["name"]] += 1
            if seen[e["name"]] > 1:  # skip each kernel's first (warm-up) run
                per_op[e["args"]["op_name"]] += e["dur"] / 1e3 / runs
    ranked = sorted(per_op.items(), key=lambda kv: -kv[1])
    return sum(per_op.values()), ranked


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        models = build(Path(tmp), args.imgsz)
        results = {k: profile(p, args.imgsz, args.threads, args.runs) for k, p in models.items()}
    print(f"\nYOLO11n-size, {args.imgsz}x{args.imgsz}, {args.threads} thread(s), kernel ms per run")
    base = results["fp32"][0]
    for label, (total, ranked) in results.items():
        print(f"\n{label}: {total:.2f} ms  (fp32 / this = {base / total:.2f}x)")
        for op, ms in ranked[: args.top]:
            print(f"  {op:<24}{ms:8.2f}")
    fp32, int8 = dict(results["fp32"][1]), dict(results["int8"][1])
    rows = {
        "convolutions": (fp32.get("Conv", 0.0), int8.get("QLinearConv", 0.0)),
        "SiLU": (
            sum(fp32.get(op, 0.0) for op in ("QuickGelu", "Sigmoid", "Mul")),
            sum(int8.get(op, 0.0) for op in ("QLinearSigmoid", "QLinearMul")),
        ),
    }
    print()
    for name, (a, b) in rows.items():
        print(f"{name:<14}fp32 {a:6.2f} ms, int8 {b:6.2f} ms (fp32 / int8 = {a / max(b, 1e-9):.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
