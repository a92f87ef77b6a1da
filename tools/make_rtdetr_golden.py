"""Make the Ultralytics RT-DETR golden fixtures (dev-only; needs the pip ``ultralytics`` package).

Two narrow RT-DETRs built by the REAL Ultralytics code (``RTDETRDetectionModel`` from a yaml dict
in the layout of its ``rtdetr-l.yaml`` / ``rtdetr-resnet50.yaml``, with Ultralytics' own
initialization), then BatchNorm statistics and affine parameters randomized and every linear /
layer-norm parameter perturbed (the official init zeroes the box heads' last layers, which would
leave the decoder's box refinement untested), saved as the trainer saves ``last.pt`` and finalized
by Ultralytics' ``strip_optimizer``. For a fixed input it records the decoder's raw outputs of its
evaluation layer (``boxes``: normalized cxcywh, ``logits``) and Ultralytics' top-k post-processed
``(B, Q, 6)`` output, computed in FP32 on the FP16-rounded weights the checkpoint stores.

    TORCHVISION_SHIM=/path/to/torchvision_cpu_shim.py \\
        .venv-fixtures/bin/python tools/make_rtdetr_golden.py --out tests/data/golden/rtdetr
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import runpy
import sys
from pathlib import Path
from typing import Any, Dict

os.environ.setdefault("YOLO_OFFLINE", "True")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "edgekit-yolo-cfg"))
if os.environ.get("TORCHVISION_SHIM"):
    _SHIM = runpy.run_path(os.environ["TORCHVISION_SHIM"])

import numpy as np
import torch
from fixture_common import golden_provenance, randomize_batch_norm, save_trainer_checkpoint
from torch import nn
from ultralytics.nn.tasks import RTDETRDetectionModel
from ultralytics.utils import DEFAULT_CFG_DICT

ONE_SCALE = {"scales": {"l": [1.0, 1.0, 1024]}, "scale": "l"}  # widths as written
DECODER = ["nc", 32, 40, 2, 4, 3, 64]  # nc, hidden 32, 40 queries, 2 points, 4 heads, 3 layers, FFN 64


def neck(p3: int, p4: int, p5: int) -> list:
    """rtdetr-l's head rows (AIFI, FPN / PAN of RepC3) at width 32, from backbone layers p3/p4/p5."""
    n = p5 + 1
    return [
        [-1, 1, "Conv", [32, 1, 1, None, 1, 1, False]],
        [-1, 1, "AIFI", [64, 4]],
        [-1, 1, "Conv", [32, 1, 1]],
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [p4, 1, "Conv", [32, 1, 1, None, 1, 1, False]],
        [[-2, -1], 1, "Concat", [1]],
        [-1, 2, "RepC3", [32]],
        [-1, 1, "Conv", [32, 1, 1]],
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [p3, 1, "Conv", [32, 1, 1, None, 1, 1, False]],
        [[-2, -1], 1, "Concat", [1]],
        [-1, 2, "RepC3", [32]],
        [-1, 1, "Conv", [32, 3, 2]],
        [[-1, n + 7], 1, "Concat", [1]],
        [-1, 2, "RepC3", [32]],
        [-1, 1, "Conv", [32, 3, 2]],
        [[-1, n + 2], 1, "Concat", [1]],
        [-1, 2, "RepC3", [32]],
        [[n + 11, n + 14, n + 17], 1, "RTDETRDecoder", DECODER],
    ]


def hgnet_tiny() -> Dict[str, Any]:
    backbone = [
        [-1, 1, "HGStem", [8, 16]],
        [-1, 2, "HGBlock", [8, 32, 3]],
        [-1, 1, "DWConv", [32, 3, 2, 1, False]],
        [-1, 2, "HGBlock", [16, 48, 3]],
        [-1, 1, "DWConv", [48, 3, 2, 1, False]],
        [-1, 2, "HGBlock", [24, 64, 5, True, False]],
        [-1, 2, "HGBlock", [24, 64, 5, True, True]],
        [-1, 1, "DWConv", [64, 3, 2, 1, False]],
        [-1, 2, "HGBlock", [32, 96, 5, True, False]],
    ]
    return {"nc": 5, **ONE_SCALE, "backbone": backbone, "head": neck(3, 6, 8)}


def resnet_tiny() -> Dict[str, Any]:
    backbone = [
        [-1, 1, "ResNetLayer", [3, 16, 1, True, 1]],
        [-1, 1, "ResNetLayer", [16, 8, 1, False, 1]],
        [-1, 1, "ResNetLayer", [32, 12, 2, False, 2]],
        [-1, 1, "ResNetLayer", [48, 16, 2, False, 1]],
        [-1, 1, "ResNetLayer", [64, 24, 2, False, 1]],
    ]
    return {"nc": 3, **ONE_SCALE, "backbone": backbone, "head": neck(2, 3, 4)}


FIXTURES = {"rtdetr_hgnet_tiny": hgnet_tiny, "rtdetr_resnet_tiny": resnet_tiny}
BATCH, HEIGHT, WIDTH = 2, 64, 96


def randomize(model: nn.Module, gen: torch.Generator) -> None:
    """Random BatchNorm statistics / affine parameters; every linear and layer-norm parameter perturbed."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            randomize_batch_norm(m, gen)
        elif isinstance(m, (nn.Linear, nn.LayerNorm)):
            for p in m.parameters(recurse=False):
                p.data += torch.randn(p.shape, generator=gen) * 0.1


def make_fixture(name: str, out: Path, seed: int) -> Dict[str, Any]:
    torch.manual_seed(seed)  # Ultralytics' own initialization draws from the global generator
    gen = torch.Generator().manual_seed(seed)
    cfg = FIXTURES[name]()
    model = RTDETRDetectionModel(copy.deepcopy(cfg), verbose=False)
    randomize(model, gen)
    model.names = {i: f"class{i}" for i in range(cfg["nc"])}
    train_args = {**DEFAULT_CFG_DICT, "model": f"{name}.yaml", "imgsz": WIDTH, "epochs": 1}
    model.args = dict(train_args)
    model.eval()
    ref = copy.deepcopy(model).half().float().eval()  # what loading the FP16 checkpoint gives
    x = torch.rand((BATCH, 3, HEIGHT, WIDTH), generator=gen)
    with torch.no_grad():
        top, (boxes, logits, *_rest) = ref(x)
    arrays = {"input": x.numpy(), "boxes": boxes[-1].numpy(), "logits": logits[-1].numpy()}
    arrays["topk"] = top.numpy()
    ckpt = save_trainer_checkpoint(model, out / f"{name}.pt", train_args, finalize=True)
    np.savez_compressed(out / f"{name}.npz", **arrays)
    return {
        "checkpoint": ckpt.name,
        "checkpoint_sha256": hashlib.sha256(ckpt.read_bytes()).hexdigest(),
        "reference": f"{name}.npz",
        "nc": cfg["nc"],
        "input_shape": [BATCH, 3, HEIGHT, WIDTH],
        "params": int(sum(p.numel() for p in model.parameters())),
        "seed": seed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/data/golden/rtdetr"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    fixtures = {name: make_fixture(name, args.out, 3000 + i) for i, name in enumerate(FIXTURES)}
    provenance = {
        **golden_provenance("python tools/make_rtdetr_golden.py --out tests/data/golden/rtdetr"),
        "torchvision_shim": bool(os.environ.get("TORCHVISION_SHIM")),
        "fixtures": fixtures,
    }
    (args.out / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(json.dumps(fixtures, indent=2))


if __name__ == "__main__":
    sys.exit(main())
