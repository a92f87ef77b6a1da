"""Make the Ultralytics golden fixtures (dev-only; needs the pip ``ultralytics`` package).

For each fixture this builds a narrow model with the REAL Ultralytics code, gives it random
weights and random BatchNorm statistics/affine parameters, writes a genuine Ultralytics
checkpoint (the trainer's ``last.pt`` layout, finalized by Ultralytics' own
``strip_optimizer`` like a ``best.pt``, or left as ``last.pt``), and records the official
outputs for a fixed input:

- ``raw_box_<l>`` / ``raw_cls_<l>``: per-level head outputs (before DFL / sigmoid) of the
  branch edgekit returns (one-to-one for end-to-end heads), captured with forward hooks;
  ``o2m_box_<l>`` / ``o2m_cls_<l>`` additionally for the one-to-many branch of end-to-end heads;
- ``decoded``: the eval output ``[B, 4 + nc, N]`` (xywh pixels + sigmoid scores) of the NMS head
  (the one-to-many head of end-to-end models);
- ``end2end``: the eval output ``[B, K, 6]`` (x1, y1, x2, y2, score, class) of NMS-free heads.

References are computed with the FP32 model whose weights are the FP16-rounded ones (the
checkpoint stores FP16), so loading the checkpoint reproduces them.

Usage (in a venv with ``torch`` and ``ultralytics``, never edgekit's test venv)::

    TORCHVISION_SHIM=/path/to/torchvision_cpu_shim.py \\
        python tools/make_ultralytics_golden.py --out tests/data/golden/ultralytics
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
from typing import Any, Callable, Dict, List

os.environ.setdefault("YOLO_OFFLINE", "True")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "edgekit-yolo-cfg"))
if os.environ.get("TORCHVISION_SHIM"):  # CPU-only torch + CUDA torchvision wheel: see the shim's docstring
    _SHIM = runpy.run_path(os.environ["TORCHVISION_SHIM"])  # keep its torch.library registrations alive

import numpy as np
import torch
from fixture_common import golden_provenance, randomize_batch_norm, save_trainer_checkpoint
from torch import nn
from ultralytics.nn.tasks import DetectionModel, yaml_model_load
from ultralytics.utils import DEFAULT_CFG_DICT

Arch = Dict[str, Any]


def narrow(base: str, scale: str, dwm: List[float]) -> Callable[[], Arch]:
    """An official yaml with one custom (narrow) scale."""

    def make() -> Arch:
        d = yaml_model_load(f"{base}.yaml")
        d["scales"] = {scale: dwm}
        d["scale"] = scale
        return d

    return make


def gelan_tiny() -> Arch:
    """yolov9t (Ultralytics' GELAN) at 1/4 width with one RepCSP repeat; ADown replaces two AConvs."""
    d = yaml_model_load("yolov9t.yaml")
    d["backbone"] = [
        [-1, 1, "Conv", [8, 3, 2]],
        [-1, 1, "Conv", [16, 3, 2]],
        [-1, 1, "ELAN1", [16, 16, 8]],
        [-1, 1, "AConv", [16]],
        [-1, 1, "RepNCSPELAN4", [16, 16, 8, 1]],
        [-1, 1, "ADown", [24]],
        [-1, 1, "RepNCSPELAN4", [24, 24, 12, 1]],
        [-1, 1, "AConv", [32]],
        [-1, 1, "RepNCSPELAN4", [32, 32, 16, 1]],
        [-1, 1, "SPPELAN", [32, 16]],
    ]
    d["head"] = [
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [[-1, 6], 1, "Concat", [1]],
        [-1, 1, "RepNCSPELAN4", [24, 24, 12, 1]],
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [[-1, 4], 1, "Concat", [1]],
        [-1, 1, "RepNCSPELAN4", [16, 16, 8, 1]],
        [-1, 1, "AConv", [12]],
        [[-1, 12], 1, "Concat", [1]],
        [-1, 1, "RepNCSPELAN4", [24, 24, 12, 1]],
        [-1, 1, "ADown", [16]],
        [[-1, 9], 1, "Concat", [1]],
        [-1, 1, "RepNCSPELAN4", [32, 32, 16, 1]],
        [[15, 18, 21], 1, "Detect", ["nc"]],
    ]
    return d


def yolo12_tiny() -> Arch:
    """yolo12 at width 1/8 and reg_max 4 (a yaml key Ultralytics honours; keeps the head small).

    The A2C2f layers are widened to keep ABlock widths multiples of 32.
    """
    d = yaml_model_load("yolo12n.yaml")
    d["scales"] = {"n": [0.5, 0.125, 512]}
    d["reg_max"] = 4
    for row in d["backbone"] + d["head"]:
        if row[2] == "A2C2f" and row[3][0] < 512:
            row[3][0] = 512
    return d


FIXTURES: Dict[str, Dict[str, Any]] = {
    # DFL + NMS heads
    "yolo11_tiny": dict(arch=narrow("yolo11n", "n", [0.5, 0.0625, 1024]), nc=6, style="best"),
    "yolov8_tiny": dict(arch=narrow("yolov8n", "n", [0.33, 0.0625, 1024]), nc=5, style="last"),
    "gelan_tiny": dict(arch=gelan_tiny, nc=4, style="best"),
    "yolo12_tiny": dict(arch=yolo12_tiny, nc=4, style="best"),
    # NMS-free end-to-end heads; the "m" scale also turns C3k2's c3k flag on
    "yolo26_tiny": dict(arch=narrow("yolo26m", "m", [0.5, 0.0625, 512]), nc=4, style="best"),
    "yolov10_tiny": dict(arch=narrow("yolov10n", "n", [0.33, 0.0625, 512]), nc=8, style="best"),
}
BATCH, HEIGHT, WIDTH = 2, 64, 96  # a non-square input catches H/W mix-ups
GAIN = 1.0  # conv weight variance x fan-in: keeps random activations O(1) through deep residual chains


def randomize(model: nn.Module, gen: torch.Generator) -> None:
    """Random weights, random BatchNorm statistics and affine parameters (DFL stays frozen)."""
    for name, m in model.named_modules():
        if name.endswith("dfl.conv"):
            continue
        if isinstance(m, nn.Conv2d):
            fan_in = m.weight[0].numel()
            m.weight.data = torch.randn(m.weight.shape, generator=gen) * (GAIN / fan_in) ** 0.5
            if m.bias is not None:
                m.bias.data = torch.randn(m.bias.shape, generator=gen) * 0.5
        elif isinstance(m, nn.BatchNorm2d):
            randomize_batch_norm(m, gen)
        for pname, p in m.named_parameters(recurse=False):
            if pname == "gamma":  # A2C2f residual scale
                p.data = torch.rand(p.shape, generator=gen) + 0.5


def capture(head: nn.Module, x: torch.Tensor, model: nn.Module) -> Dict[str, List[torch.Tensor]]:
    """Per-level outputs of every head branch (forward hooks on cv2/cv3/one2one_cv2/one2one_cv3)."""
    got: Dict[str, List[torch.Tensor]] = {}
    hooks = []
    for branch in ("cv2", "cv3", "one2one_cv2", "one2one_cv3"):
        mods = getattr(head, branch, None)
        if mods is None:
            continue
        got[branch] = [torch.empty(0)] * len(mods)
        for level, mod in enumerate(mods):

            def hook(_m: nn.Module, _i: Any, out: torch.Tensor, b: str = branch, lv: int = level) -> None:
                got[b][lv] = out.detach().clone()

            hooks.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return got


def make_fixture(name: str, spec: Dict[str, Any], out: Path, seed: int) -> Dict[str, Any]:
    gen = torch.Generator().manual_seed(seed)
    cfg = spec["arch"]()
    model = DetectionModel(copy.deepcopy(cfg), nc=spec["nc"], verbose=False)
    randomize(model, gen)
    model.names = {i: f"class{i}" for i in range(spec["nc"])}
    train_args = {**DEFAULT_CFG_DICT, "model": f"{name}.yaml", "imgsz": WIDTH, "epochs": 1}
    model.args = dict(train_args)
    model.eval()

    # reference: FP32 arithmetic on the FP16-rounded weights the checkpoint stores
    ref = copy.deepcopy(model).half().float().eval()
    head = ref.model[-1]
    end2end = getattr(head, "one2one_cv2", None) is not None
    x = torch.rand((BATCH, 3, HEIGHT, WIDTH), generator=gen)
    arrays: Dict[str, np.ndarray] = {"input": x.numpy(), "stride": ref.stride.numpy()}
    ref.end2end = end2end
    levels = capture(head, x, ref)
    box, cls = ("one2one_cv2", "one2one_cv3") if end2end else ("cv2", "cv3")
    for lv in range(head.nl):
        arrays[f"raw_box_{lv}"] = levels[box][lv].numpy()
        arrays[f"raw_cls_{lv}"] = levels[cls][lv].numpy()
        if end2end:
            arrays[f"o2m_box_{lv}"] = levels["cv2"][lv].numpy()
            arrays[f"o2m_cls_{lv}"] = levels["cv3"][lv].numpy()
    with torch.no_grad():
        if end2end:
            arrays["end2end"] = ref(x)[0].numpy()
            ref.end2end = False
        arrays["decoded"] = ref(x)[0].numpy()

    # the checkpoint, written the way the trainer does (then finalized like best.pt)
    ckpt_path = save_trainer_checkpoint(
        model, out / f"{name}.pt", train_args, finalize=spec["style"] == "best"
    )
    np.savez_compressed(out / f"{name}.npz", **arrays)
    return {
        "checkpoint": ckpt_path.name,
        "checkpoint_sha256": hashlib.sha256(ckpt_path.read_bytes()).hexdigest(),
        "reference": f"{name}.npz",
        "style": "strip_optimizer (best.pt)"
        if spec["style"] == "best"
        else "trainer last.pt (ema, model=None)",
        "nc": spec["nc"],
        "input_shape": [BATCH, 3, HEIGHT, WIDTH],
        "end2end": end2end,
        "reg_max": int(head.reg_max),
        "params": int(sum(p.numel() for p in model.parameters())),
        "seed": seed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/data/golden/ultralytics"))
    parser.add_argument("--only", nargs="*", help="fixture names (default: all)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    fixtures = {}
    for k, (name, spec) in enumerate(FIXTURES.items()):
        if args.only and name not in args.only:
            continue
        fixtures[name] = make_fixture(name, spec, args.out, seed=1000 + k)
        print(f"{name}: {fixtures[name]['params']} params")
    provenance = {
        **golden_provenance("python tools/make_ultralytics_golden.py " + " ".join(sys.argv[1:])),
        "torchvision_shim": bool(os.environ.get("TORCHVISION_SHIM")),  # CPU torch + PyPI torchvision
        "fixtures": fixtures,
    }
    (args.out / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")


if __name__ == "__main__":
    main()
