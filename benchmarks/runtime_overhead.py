"""Runtime overhead: preprocessing + decoding vs onnxruntime inference, and decode latency.

    python benchmarks/runtime_overhead.py [--runs 50] [--threads 2] [--candidates 1500]

A YOLO11n-size model (edgekit's own build, 80 classes, 640x640, reparameterized and exported
by ``edgekit.convert``'s engine) runs on a 1280x720 frame with 2 threads. The network is
untrained: its BatchNorm statistics are randomized (so outputs vary over the image) and its
class-logit biases are shifted once, on that frame, until ``--candidates`` anchors score above
conf 0.25. The decoder then sees a real network output with a controlled candidate count
(the task: >= 1,000 of 8400 anchors x 80 classes). No trained 80-class model exists here.

Two bundles of the same network are timed in alternating blocks: edgekit's default onnxruntime
model (uint8 pixels in, each anchor's best score and class out; ``edgekit.converters.host_io``)
and the plain float interface (``--no-host-io``).

Prints one table (medians over interleaved runs) and the ratios the targets are stated in:
(preprocess + decode) / inference <= 3 %, and decode <= 0.5 ms. When ``ultralytics`` is
importable (dev-only), its LetterBox preprocessing and ``non_max_suppression`` on the same
frame and the same raw output are timed in the same run and reported as ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from edgekit.converters.engine import ConvertOptions, convert_loaded
from edgekit.detector import Detector
from edgekit.models.loader import build_model
from edgekit.reparam.samples import randomize_batchnorm, synthetic_images
from edgekit.timing import Schedule, alternating, by_stage, median_ms, staged_ms

CONF = 0.25
STAGES = ("preprocess", "inference", "decode")


def tune_candidates(model: torch.nn.Module, frame_input: torch.Tensor, wanted: int) -> int:
    """Shift the final class-conv biases so that ``wanted`` anchors exceed CONF on this input."""
    with torch.no_grad():
        _, cls_levels = model(frame_input)
        best = torch.cat([t.flatten(2) for t in cls_levels], 2).max(1).values.flatten()
        threshold = float(np.log(CONF / (1 - CONF)))
        ranked = best.sort(descending=True).values
        # between the wanted-th value and the next smaller one (ties, e.g. padding bands, stay together)
        below = ranked[ranked < ranked[wanted - 1]]
        kth, nxt = float(ranked[wanted - 1]), float(below[0]) if len(below) else float(ranked[wanted - 1]) - 1
        shift = threshold - (kth + nxt) / 2
        convs = [m for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d) and ".cv3." in name]
        last = [c for c in convs if c.out_channels == cls_levels[0].shape[1] and c.bias is not None]
        for conv in last:
            conv.bias += shift
        _, cls_levels = model(frame_input)
        best = torch.cat([t.flatten(2) for t in cls_levels], 2).max(1).values
    return int((best.sigmoid() > CONF).sum())


def single_ms(fn: Callable[[], object], runs: int) -> float:
    """Median ms of ``fn`` alone, through the one harness (``edgekit.timing``)."""
    return median_ms([fn], Schedule.for_runs(runs, warmup=1))[0]


def build_bundles(workdir: Path, candidates: int, frame: np.ndarray) -> List[Path]:
    torch.manual_seed(0)  # the same network every run
    loaded = build_model("yolo11n", nc=80)
    model = randomize_batchnorm(loaded.model, seed=0).eval()  # varied, image-dependent outputs
    from edgekit.bundle.manifest import InputSpec, Preprocess
    from edgekit.decoding.preprocess import Preprocessor

    x, _ = Preprocessor(Preprocess(), InputSpec("images", 640, 640))(frame)
    got = tune_candidates(model, torch.from_numpy(x.copy()), candidates)
    print(f"candidates above conf {CONF}: {got} of 8400 anchors x 80 classes")
    return [
        convert_loaded(
            loaded,
            workdir / f"yolo11n-{'host' if host else 'float'}-io.edgekit",
            ConvertOptions(target="x86-avx2", imgsz=640, verify=False, backend="onnxruntime", host_io=host),
        )
        for host in (True, False)
    ]


def ultralytics_steps(frame: np.ndarray, raw: np.ndarray, runs: int) -> Dict[str, float]:
    """Ultralytics' own preprocessing and NMS on the same frame / raw output (dev-only)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared" / "tools"))
    import torchvision_cpu_shim  # noqa: F401  - provides torchvision.ops.nms on CPU torch
    from ultralytics.data.augment import LetterBox
    from ultralytics.utils import nms as nms_mod

    letterbox = LetterBox((640, 640), auto=False)

    def pre() -> None:
        img = letterbox(image=frame)
        img = img[..., ::-1].transpose(2, 0, 1)[None]
        torch.from_numpy(np.ascontiguousarray(img)).float().div_(255)

    prediction = torch.from_numpy(raw)
    return {
        "preprocess": single_ms(pre, runs),
        "decode": single_ms(lambda: nms_mod.non_max_suppression(prediction, CONF, 0.45), runs),
    }


def cold_call_cost(det: Detector, frame: np.ndarray, runs: int) -> Dict[str, float]:
    """Median ms of one small numpy call (``flatnonzero`` over 8,400 floats, data in cache) right
    after an inference and once warm: what every decode step pays here on top of its arithmetic."""
    values = np.random.default_rng(0).random(8400, dtype=np.float32)
    after, warm = [], []
    x = det.preprocess(frame)[0].copy()
    for _ in range(runs):
        det.runtime.infer(x)
        start = time.perf_counter()
        np.flatnonzero(values > CONF)
        after.append((time.perf_counter() - start) * 1e3)
        np.flatnonzero(values > CONF)
        start = time.perf_counter()
        np.flatnonzero(values > CONF)
        warm.append((time.perf_counter() - start) * 1e3)
    return {"after": statistics.median(after), "warm": statistics.median(warm)}


def alternating_stages(detectors: List[Detector], frame: np.ndarray, runs: int) -> List[Dict[str, float]]:
    """Median ms of each stage per detector, timed together by the one harness (rotating warmed
    blocks with a pause at each switch: one detector's onnxruntime workers may spin on after its
    run and would slow the other's next inference)."""
    calls = [staged_ms(partial(det, frame), lambda d=det: d.timings) for det in detectors]
    samples = alternating(calls, Schedule.for_runs(runs))
    return [{k: statistics.median(v) for k, v in by_stage(s).items() if k in STAGES} for s in samples]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=1500)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    frame = synthetic_images((720, 1280), 1, seed=3)[0][..., ::-1].copy()  # BGR, as a camera gives
    with tempfile.TemporaryDirectory() as tmp:
        bundles = build_bundles(Path(tmp), args.candidates, frame)
        # edgekit's default onnxruntime model (uint8 pixels in, best score/class per anchor out) and
        # the same network with the plain float interface (--no-host-io), timed in the same run
        dets = [Detector(b, threads=args.threads, conf=CONF) for b in bundles]
        med, base = alternating_stages(dets, frame, args.runs)
        alone, n_det = [], []
        for det in dets:
            x, geo = det.preprocess(frame)
            outputs = det.runtime.infer(x)
            decode = partial(det.decoder, outputs, [geo], det.options)
            alone.append(single_ms(decode, args.runs * 4))
            n_det.append(len(decode()[0]))
        decode_ms = alone[0]
        cold = cold_call_cost(dets[0], frame, max(10, args.runs // 4))
        peer = None
        try:
            scores = outputs["scores"]
            boxes = outputs["boxes"]
            xywh = np.concatenate([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], 1)
            peer = ultralytics_steps(frame, np.concatenate([xywh, scores], 1), args.runs)
        except ImportError:
            pass
    print(f"\nYOLO11n-size, 640x640, 1280x720 frame, {args.threads} threads, {n_det[0]} detections kept")
    if n_det[0] != n_det[1]:
        print(f"WARNING: the float-I/O model kept {n_det[1]} detections")
    head = f"{'stage':<14}{'edgekit ms':>12}{'float-io ms':>13}"
    print(head + (f"{'ultralytics ms':>16}{'peer/ours':>11}" if peer else ""))
    rows = [(k, med[k], base[k]) for k in STAGES] + [("decode alone", decode_ms, alone[1])]
    for name, value, other in rows:
        line = f"{name:<14}{value:>12.3f}{other:>13.3f}"
        if peer and name in peer:
            line += f"{peer[name]:>16.3f}{peer[name] / value:>10.1f}x"
        print(line)
    print("(float-io: the same network exported with --no-host-io: float input, no in-graph best score)")
    for label, m in (("edgekit", med), ("float-io", base)):
        ratio = (m["preprocess"] + m["decode"]) / m["inference"] * 100
        print(f"{label:<9}(preprocess + decode) / inference = {ratio:.2f} % (target <= 3 %)")
    print(
        f"decode median = {decode_ms:.3f} ms alone, {med['decode']:.3f} ms between inferences "
        "(target <= 0.5 ms)"
    )
    print(f"inference, float-io / edgekit = {base['inference'] / med['inference']:.3f}")
    print(
        f"one small numpy call (flatnonzero, 8,400 floats): {cold['after']:.3f} ms right after an "
        f"inference, {cold['warm']:.3f} ms warm"
    )
    for d in dets:
        d.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
