"""Make the Ultralytics segment / pose / OBB golden fixtures (dev-only; needs the pip ``ultralytics``).

For YOLOv8, YOLO11 and YOLO26 and each task this builds a narrow model from the official task yaml
(``yolov8n-seg.yaml``, ``yolo11n-pose.yaml``, ``yolo26n-obb.yaml``...) with the REAL Ultralytics
code, gives it random weights and random BatchNorm statistics, writes a genuine Ultralytics
checkpoint (the trainer's layout, finalized by Ultralytics' ``strip_optimizer``) and records the
official outputs for a fixed input. The head row and the layer graph are the official ones; the CSP
and attention blocks become 1x1 ``Conv`` rows of the same width, all but the neck's first CSP block
(which decides the head's class branch); the detect fixtures cover those blocks, and this keeps each
checkpoint small. References (``<name>.npz``; the input is ``pixels`` (uint8) / 255):

- ``raw_box_<l>`` / ``raw_cls_<l>`` / ``raw_<task>_<l>``: per-level outputs of the head branch
  edgekit returns (the one-to-one branch of end-to-end heads), from forward hooks; ``<task>`` is
  ``masks`` (coefficients), ``keypoints`` (raw) or ``angle`` (raw logits, before any sigmoid);
  ``o2m_*`` the same for the one-to-many branch of end-to-end heads; ``proto``: the prototypes;
- ``decoded``: the eval output ``[B, 4 + nc + extra, N]`` of the NMS head (one-to-many of
  end-to-end models): boxes xywh, sigmoid scores, then mask coefficients / decoded keypoints /
  angle in radians;
- ``end2end``: the eval output ``[B, K, 6 + extra]`` of NMS-free heads.

The provenance also records what Ultralytics' ``model.fuse()`` leaves (parameter count and
state-dict signature), per head branch, and under ``full_size`` the architecture dicts,
parameter counts and state-dict signatures of full-size official models (``yolo11n-seg.yaml``...).
References are computed in FP32 on the FP16-rounded weights the checkpoint stores.

Usage (in a venv with ``torch`` and ``ultralytics``, never edgekit's test venv)::

    .venv-fixtures/bin/python tools/make_ultralytics_task_golden.py --out tests/data/golden/ultralytics_tasks
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List

os.environ.setdefault("YOLO_OFFLINE", "True")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "edgekit-yolo-cfg"))

import numpy as np
import torch
from fixture_common import golden_provenance, save_trainer_checkpoint
from make_ultralytics_golden import BATCH, randomize
from torch import nn
from ultralytics.nn.tasks import OBBModel, PoseModel, SegmentationModel, yaml_model_load
from ultralytics.utils import DEFAULT_CFG_DICT

MODELS = {"segment": SegmentationModel, "pose": PoseModel, "obb": OBBModel}
SUFFIX = {"segment": "seg", "pose": "pose", "obb": "obb"}
TASK_KEY = {"segment": "masks", "pose": "keypoints", "obb": "angle"}
LIGHT = {"C2f", "C3k2", "C2PSA"}  # blocks replaced by a 1x1 Conv of the same width
#: version -> (yaml stem, scale [depth, width, max_channels], reg_max, checkpoint style)
VERSIONS = {
    "yolov8": ("yolov8n", [0.33, 0.0625, 128], 4, "last"),
    "yolo11": ("yolo11n", [0.5, 0.0625, 128], 8, "best"),
    "yolo26": ("yolo26n", [0.5, 0.0625, 128], 1, "best"),
}
#: per fixture: task settings (mask coefficients, keypoint shape)
TASK_ARGS = {
    "yolov8_seg": {"nm": 12},
    "yolo11_seg": {"nm": 8},
    "yolo26_seg": {"nm": 8},
    "yolov8_pose": {"kpt_shape": [4, 2]},
    "yolo11_pose": {"kpt_shape": [5, 3]},
    "yolo26_pose": {"kpt_shape": [3, 3]},
}
NC = {"segment": 3, "pose": 2, "obb": 4}
#: full-size official models whose structure the tests compare (built from the package yamls, nc 80)
FULL_SIZE = [
    f"{v}{s}-{t}" for v, s in (("yolov8", "n"), ("yolo11", "n"), ("yolo26", "n")) for t in SUFFIX.values()
]
FULL_SIZE += ["yolo11m-seg", "yolo26s-pose"]
HEIGHT, WIDTH = 32, 64  # smaller than the detect fixtures' 64 x 96: keeps the references small


def arch(version: str, task: str, name: str) -> Dict[str, Any]:
    stem, dwm, reg_max, _ = VERSIONS[version]
    d = yaml_model_load(f"{stem}-{SUFFIX[task]}.yaml")
    d["scales"], d["scale"], d["reg_max"] = {"n": dwm}, "n", reg_max
    neck = [row for row in d["head"] if row[2] in LIGHT]
    for row in [row for row in d["backbone"] if row[2] in LIGHT] + neck[1:]:
        row[1:] = [1, "Conv", [row[3][0], 1, 1]]  # the neck's first CSP block stays: it decides
        # whether the head's class branch is the legacy one (C2f) or not (C3k2)
    extra = TASK_ARGS.get(name, {})
    if "nm" in extra:
        d["head"][-1][3][1] = extra["nm"]
    if "kpt_shape" in extra:
        d["kpt_shape"] = extra["kpt_shape"]
    return d


def randomize_all(model: nn.Module, gen: torch.Generator) -> None:
    """The detect fixtures' randomization, plus the prototype upsampling (a ConvTranspose2d)."""
    randomize(model, gen)
    for m in model.modules():
        if isinstance(m, nn.ConvTranspose2d):
            fan_in = m.weight.shape[0] * m.weight[0, 0].numel()
            m.weight.data = torch.randn(m.weight.shape, generator=gen) / fan_in**0.5
            m.bias.data = torch.randn(m.bias.shape, generator=gen) * 0.5


def task_branch(head: nn.Module) -> str:
    """The module list whose per-level outputs are the task's raw tensors."""
    return "cv4_kpts" if hasattr(head, "cv4_kpts") else "cv4"


def capture(model: nn.Module, x: torch.Tensor) -> Dict[str, List[torch.Tensor]]:
    """Per-level outputs of every head branch and the prototypes (forward hooks)."""
    head = model.model[-1]
    task = task_branch(head)
    got: Dict[str, List[torch.Tensor]] = {}
    hooks = []
    names = [p + b for p in ("", "one2one_") for b in ("cv2", "cv3", task)] + ["proto"]
    for branch in names:
        mods = getattr(head, branch, None)
        if mods is None:
            continue
        mods = [mods] if branch == "proto" else list(mods)
        got[branch] = [torch.empty(0)] * len(mods)
        for level, mod in enumerate(mods):

            def hook(_m: nn.Module, _i: Any, out: Any, b: str = branch, lv: int = level) -> None:
                got[b][lv] = out.detach().clone()

            hooks.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return got


def signature(model: nn.Module) -> str:
    lines = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in model.state_dict().items())
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


def fused_facts(model: nn.Module, end2end: bool) -> Dict[str, Any]:
    """What Ultralytics' ``fuse()`` leaves with the given head branch selected."""
    fused = copy.deepcopy(model)
    fused.end2end = end2end
    fused.fuse(verbose=False)
    return {"params": int(sum(p.numel() for p in fused.parameters())), "signature": signature(fused)}


def references(ref: nn.Module, task: str, x: torch.Tensor, end2end: bool) -> Dict[str, np.ndarray]:
    head = ref.model[-1]
    key, branch = TASK_KEY[task], task_branch(head)
    ref.end2end = end2end
    levels = capture(ref, x)
    arrays: Dict[str, np.ndarray] = {}
    prefixes = [("raw", "one2one_" if end2end else "")] + ([("o2m", "")] if end2end else [])
    for tag, prefix in prefixes:
        for lv in range(head.nl):
            arrays[f"{tag}_box_{lv}"] = levels[prefix + "cv2"][lv].numpy()
            arrays[f"{tag}_cls_{lv}"] = levels[prefix + "cv3"][lv].numpy()
            arrays[f"{tag}_{key}_{lv}"] = levels[prefix + branch][lv].numpy()
    if "proto" in levels:
        arrays["proto"] = levels["proto"][0].numpy()
    with torch.no_grad():
        if end2end:
            out = ref(x)[0]
            arrays["end2end"] = (out[0] if task == "segment" else out).numpy()
            ref.end2end = False
        out = ref(x)[0]
        arrays["decoded"] = (out[0] if task == "segment" else out).numpy()
        if task == "segment":
            assert np.array_equal(out[1].numpy(), arrays["proto"])
    return arrays


def make_fixture(name: str, version: str, task: str, out: Path, seed: int) -> Dict[str, Any]:
    gen = torch.Generator().manual_seed(seed)
    cfg, nc = arch(version, task, name), NC[task]
    model = MODELS[task](copy.deepcopy(cfg), nc=nc, verbose=False)
    randomize_all(model, gen)
    model.names = {i: f"class{i}" for i in range(nc)}
    train_args = {**DEFAULT_CFG_DICT, "model": f"{name}.yaml", "task": task, "imgsz": WIDTH, "epochs": 1}
    model.args = dict(train_args)
    model.eval()

    ref = copy.deepcopy(model).half().float().eval()
    head = ref.model[-1]
    end2end = getattr(head, "one2one_cv2", None) is not None
    pixels = torch.randint(0, 256, (BATCH, 3, HEIGHT, WIDTH), generator=gen, dtype=torch.uint8)
    x = pixels.float() / 255  # stored as uint8 (small); the tests divide the same way
    arrays = {"pixels": pixels.numpy(), "stride": ref.stride.numpy(), **references(ref, task, x, end2end)}
    fused = {"one2one" if end2end else "one2many": fused_facts(ref, end2end)}
    if end2end:
        fused["one2many"] = fused_facts(ref, False)

    style = VERSIONS[version][3]
    ckpt = save_trainer_checkpoint(model, out / f"{name}.pt", train_args, finalize=style == "best")
    np.savez_compressed(out / f"{name}.npz", **arrays)
    return {
        "checkpoint": ckpt.name,
        "checkpoint_sha256": hashlib.sha256(ckpt.read_bytes()).hexdigest(),
        "reference": f"{name}.npz",
        "style": "strip_optimizer (best.pt)" if style == "best" else "trainer last.pt (ema, model=None)",
        "task": task,
        "head": type(head).__name__,
        "model_class": type(model).__name__,
        "nc": nc,
        "masks": int(getattr(head, "nm", 0)),
        "keypoints": list(getattr(head, "kpt_shape", [0, 0])),
        "input_shape": [BATCH, 3, HEIGHT, WIDTH],
        "end2end": end2end,
        "reg_max": int(head.reg_max),
        "params": int(sum(p.numel() for p in model.parameters())),
        "fused": fused,
        "seed": seed,
    }


def full_size(name: str) -> Dict[str, Any]:
    """The official model's architecture dict, parameter count and state-dict signature."""
    task = next(t for t, suffix in SUFFIX.items() if name.endswith(f"-{suffix}"))
    model = MODELS[task](f"{name}.yaml", verbose=False)
    return {
        "yaml": model.yaml,
        "params": int(sum(p.numel() for p in model.parameters())),
        "signature": signature(model),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/data/golden/ultralytics_tasks"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    fixtures = {}
    for k, (version, task) in enumerate((v, t) for v in VERSIONS for t in MODELS):
        name = f"{version}_{SUFFIX[task]}"
        fixtures[name] = make_fixture(name, version, task, args.out, seed=2000 + k)
        print(f"{name}: {fixtures[name]['params']} params")
    provenance = {
        **golden_provenance("python tools/make_ultralytics_task_golden.py " + " ".join(sys.argv[1:])),
        "fixtures": fixtures,
        "full_size": {name: full_size(name) for name in FULL_SIZE},
    }
    (args.out / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")


if __name__ == "__main__":
    main()
