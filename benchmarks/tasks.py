"""Task post-processing: edgekit's mask decoding against the peer's, on the same raw outputs.

    python benchmarks/tasks.py [--detections 100] [--frame 1280x720] [--imgsz 640]
    python benchmarks/tasks.py --bundle yolo11n-seg-cpu.edgekit [--backend onnxruntime]
    python benchmarks/tasks.py --bundle seg-640.edgekit --scene --conf 0.25

Needs the peer (``pip install ultralytics``; run with the interpreter that has it and edgekit on
``PYTHONPATH``). One 640 letterboxed input of a 1280x720 frame, 32 prototypes at 160x160 and
``--detections`` kept boxes with their mask coefficients (boxes 20-400 px, prototypes smooth like
a trained model's). The peer: ``ultralytics.utils.ops.process_mask_native`` (every prototype
upsampled to the input, letterbox cut, resized to the frame, cropped), as its ``predict`` runs it
with ``retina_masks``; edgekit: ``MaskDecoder.image_masks`` (each mask computed over its box only).
Both produce (N, 720, 1280) masks; the table gives their agreement (mask IoU) and times, measured
in alternating warmed blocks by ``edgekit.timing``, with the ratio peer / edgekit.

``--bundle``: a whole segmentation frame instead (no peer needed): the bundle's ``Detector`` on
one frame, keeping at most ``--detections`` above ``--conf``, with its own stage times
(preprocess, inference, decode = candidates + NMS + masks) and the share of post-processing in
inference, and the masks' part of it (``MaskDecoder.crops``, timed where the decoder calls it).
The frame: smooth noise (for an untrained model, with ``--conf 0``), or with
``--scene`` a crowded shapes test scene rendered at the frame's width and cut to its height (what
the trained fixtures detect).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, List, Optional, Tuple

import numpy as np

from edgekit.decoding.masks import MaskDecoder
from edgekit.decoding.preprocess import Geometry
from edgekit.timing import Schedule, alternating, wall_ms


def letterbox(h: int, w: int, size: int) -> Geometry:
    gain = min(size / h, size / w)
    nh, nw = round(h * gain), round(w * gain)
    return Geometry(nw / w, nh / h, round((size - nw) / 2 - 0.1), round((size - nh) / 2 - 0.1), (h, w))


def raw_outputs(n: int, hw: Tuple[int, int], seed: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(protos (32, 160, 160), coefficients (n, 32), boxes (n, 4) in frame pixels)."""
    import torch

    rng = np.random.default_rng(seed)
    low = torch.from_numpy(rng.normal(size=(1, 32, 10, 10)).astype(np.float32))
    protos = torch.nn.functional.interpolate(low, (160, 160), mode="bicubic")[0].numpy()
    h, w = hw
    xy = rng.uniform(0, [w - 20, h - 20], (n, 2))
    boxes = np.concatenate([xy, np.minimum(xy + rng.uniform(20, 400, (n, 2)), [w, h])], 1)
    return protos, rng.normal(size=(n, 32)).astype(np.float32), boxes.astype(np.float32)


def test_frame(hw: Tuple[int, int], scene: bool) -> np.ndarray:
    """A BGR frame of ``hw``: a crowded shapes test scene (``scene``: about 90 objects of 24-100 px
    left in a 1280x720 frame, a dense street or shelf for a 640 input) or smooth noise."""
    if scene:
        from edgekit.testing.scene import SceneConfig
        from edgekit.testing.shapes import render_sample

        crowd = SceneConfig(imgsz=max(hw), min_objects=150, max_objects=170, min_size=24, max_size=100)
        image = render_sample(seed=0, imgsz=max(hw), index=0, split="test", config=crowd).bgr
        return np.ascontiguousarray(image[: hw[0], : hw[1]])
    rng = np.random.default_rng(0)
    low = rng.integers(0, 255, (hw[0] // 40, hw[1] // 40, 3)).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(np.repeat(low, 40, 0), 40, 1))


def whole_frame(
    bundle: str, backend: Optional[str], n: int, hw: Tuple[int, int], blocks: int, conf: float, scene: bool
) -> None:
    """Stage times of the bundle's ``Detector`` on one frame, at most ``n`` detections above ``conf``."""
    from edgekit import Detector
    from edgekit.timing import by_stage, staged_ms

    frame = test_frame(hw, scene)
    mask_ms: List[float] = []  # the masks' share of decode: MaskDecoder.crops, timed where it runs
    crops = MaskDecoder.crops

    def timed_crops(self: MaskDecoder, *args: Any) -> Any:
        start = time.perf_counter()
        out = crops(self, *args)
        mask_ms.append(1e3 * (time.perf_counter() - start))
        return out

    MaskDecoder.crops = timed_crops  # type: ignore[method-assign]
    try:
        with Detector(bundle, backend=backend, threads=2, conf=conf, max_det=n) as det:
            kept = len(det(frame))
            schedule = Schedule(blocks=blocks, per_block=3, warmup=1)
            mask_ms.clear()
            (runs,) = alternating([staged_ms(lambda: det(frame), lambda: dict(det.timings))], schedule)
            stages = {k: statistics.median(v) for k, v in by_stage(runs).items()}
            backend = det.backend
    finally:
        MaskDecoder.crops = crops  # type: ignore[method-assign]
    stages["masks"] = statistics.median(mask_ms) if mask_ms else 0.0  # every run, warm-ups included
    what = "shapes scene" if scene else "noise"
    print(f"{bundle} ({backend}), {kept} detections kept (conf {conf}) on a {hw[1]}x{hw[0]} {what} frame")
    print(schedule.describe())
    for name in ("preprocess", "inference", "decode", "masks", "total"):
        print(f"{name:12} {stages[name]:9.2f} ms" + ("  (of decode)" if name == "masks" else ""))
    print(f"decode / inference: {100 * stages['decode'] / stages['inference']:.1f} %")
    print(f"masks / inference: {100 * stages['masks'] / stages['inference']:.1f} %")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detections", type=int, default=100)
    parser.add_argument("--frame", default="1280x720", help="WIDTHxHEIGHT of the original frame")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--blocks", type=int, default=6)
    parser.add_argument("--bundle", help="time a whole frame of this segmentation bundle instead")
    parser.add_argument("--backend", help="the bundle's backend (default: Detector's choice)")
    parser.add_argument("--conf", type=float, default=0.0, help="--bundle: score threshold")
    parser.add_argument("--scene", action="store_true", help="--bundle: a shapes scene, not noise")
    args = parser.parse_args(argv)
    if args.bundle:
        w, h = (int(v) for v in args.frame.split("x"))
        whole_frame(args.bundle, args.backend, args.detections, (h, w), args.blocks, args.conf, args.scene)
        return 0
    import torch
    from ultralytics import __version__ as peer_version
    from ultralytics.utils.ops import process_mask_native

    w, h = (int(v) for v in args.frame.split("x"))
    protos, coeffs, boxes = raw_outputs(args.detections, (h, w))
    geo = letterbox(h, w, args.imgsz)
    decoder = MaskDecoder(protos, (args.imgsz, args.imgsz))
    tp, tc, tb = (torch.from_numpy(a) for a in (protos, coeffs, boxes))

    def peer() -> np.ndarray:
        return process_mask_native(tp, tc, tb, (h, w)).numpy()

    def ours() -> np.ndarray:
        return decoder.image_masks(coeffs, boxes, geo)

    a, b = ours(), peer().astype(bool)
    union = (a | b).sum((1, 2))
    iou = (a & b).sum((1, 2)) / np.maximum(union, 1)
    schedule = Schedule(blocks=args.blocks, per_block=3, warmup=1)
    times = alternating([wall_ms(peer), wall_ms(ours)], schedule)
    peer_ms, ours_ms = (statistics.median(t) for t in times)
    print(f"ultralytics {peer_version}, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    print(f"{args.detections} masks on a {w}x{h} frame from a {args.imgsz} input; {schedule.describe()}")
    big = union >= 100  # a mask of a few pixels flips with one edge pixel
    print(
        f"edgekit vs peer: mask IoU min {iou[big].min():.4f}, median {np.median(iou[big]):.4f} "
        f"({big.sum()} masks of >= 100 px); pixels that differ: {(a != b).mean():.2e}"
    )
    print(f"{'post-processing':34} {'median ms':>10} {'min ms':>8}")
    print(f"{'peer (process_mask_native)':34} {peer_ms:10.2f} {min(times[0]):8.2f}")
    print(f"{'edgekit (MaskDecoder.image_masks)':34} {ours_ms:10.2f} {min(times[1]):8.2f}")
    print(f"ratio peer / edgekit: {peer_ms / ours_ms:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
