"""Official ``model.fuse()`` references for the Ultralytics golden fixtures (dev-only; needs ``ultralytics``).

For each golden checkpoint (``tests/data/golden/ultralytics/<name>.pt``) this loads the model with
Ultralytics' own ``ultralytics.nn.tasks.load_checkpoint`` (FP32, eval), selects the head branch
(``model.end2end = True`` for NMS-free heads, edgekit's default), runs ``model.fuse()`` and records
on the fixture's input (``<name>.npz["input"]``):

- ``raw_box_<l>`` / ``raw_cls_<l>``: per-level outputs of the kept head branch (forward hooks);
- ``decoded`` (NMS heads) or ``end2end`` (NMS-free heads): the fused model's eval output;
- for NMS-free heads also ``nms_*``: the same after ``model.end2end = False`` then ``fuse()``
  (Ultralytics then drops the one-to-one branch instead);
- ``params`` / ``nms_params``: ``sum(p.numel() for p in model.parameters())`` after ``fuse()``;
  ``signature``: sha256 of the fused state dict's ``key:shape`` lines in order (first 16 hex digits).

It also computes the fused parameter counts of full-size official models built from their yamls
(``DetectionModel(f"{name}.yaml")``, nc 80; end2end heads with ``model.end2end = True``).

Usage::

    TORCHVISION_SHIM=/work/shared/tools/torchvision_cpu_shim.py .venv-ref-ultra/bin/python \\
        tools/make_ultralytics_fused_golden.py --golden tests/data/golden/ultralytics
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import runpy
from pathlib import Path
from typing import Any, Dict, List

os.environ.setdefault("YOLO_OFFLINE", "True")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "edgekit-yolo-cfg"))
if os.environ.get("TORCHVISION_SHIM"):
    _SHIM = runpy.run_path(os.environ["TORCHVISION_SHIM"])

import numpy as np
import torch
from fixture_common import golden_provenance
from torch import nn
from ultralytics.nn.tasks import DetectionModel, load_checkpoint

FULL_SIZE = (
    "yolov8n",
    "yolov10n",
    "yolo11n",
    "yolo11s",
    "yolo11m",
    "yolo11l",
    "yolo11x",
    "yolo26n",
    "yolo26s",
    "yolo26m",
    "yolo26l",
    "yolo26x",
    "yolov9t",
    "yolo12n",
)


def params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def signature(model: nn.Module) -> str:
    """Every state-dict key, in order, with its shape: sha256 of ``key:shape`` lines, first 16 hex digits."""
    lines = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in model.state_dict().items())
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


def capture(model: nn.Module, x: torch.Tensor) -> Dict[str, Any]:
    """Eval output and the per-level outputs of the head branch the fused model kept."""
    head = model.model[-1]
    box, cls = ("one2one_cv2", "one2one_cv3") if head.end2end else ("cv2", "cv3")
    got: Dict[str, List[torch.Tensor]] = {box: [None] * head.nl, cls: [None] * head.nl}
    hooks = []
    for branch in (box, cls):
        for lv, mod in enumerate(getattr(head, branch)):

            def hook(_m: nn.Module, _i: Any, out: torch.Tensor, b: str = branch, level: int = lv) -> None:
                got[b][level] = out.detach().clone()

            hooks.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        out = model(x)[0]
    for h in hooks:
        h.remove()
    arrays = {"end2end" if head.end2end else "decoded": out.numpy()}
    for lv in range(head.nl):
        arrays[f"raw_box_{lv}"] = got[box][lv].numpy()
        arrays[f"raw_cls_{lv}"] = got[cls][lv].numpy()
    return arrays


def fused(path: Path, end2end: bool) -> nn.Module:
    model, _ = load_checkpoint(str(path))
    model.end2end = end2end
    model = model.float().eval().fuse(verbose=False)
    assert model.is_fused()
    return model


def make(name: str, golden: Path, entry: Dict[str, Any]) -> Dict[str, Any]:
    ckpt = golden / entry["checkpoint"]
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert digest == entry["checkpoint_sha256"], f"{ckpt} changed since the golden provenance"
    src = np.load(golden / entry["reference"])
    x = torch.from_numpy(src["input"])
    end2end = bool(entry["end2end"])
    model = fused(ckpt, end2end)
    arrays = capture(model, x)
    arrays["params"] = np.array(params(model))
    out = {"end2end": end2end, "params": params(model), "signature": signature(model)}
    if end2end:
        nms = fused(ckpt, False)
        arrays.update({f"nms_{k}": v for k, v in capture(nms, x).items()})
        arrays["nms_params"] = np.array(params(nms))
        out["nms_params"] = params(nms)
        out["nms_signature"] = signature(nms)
    ref = f"{name}_fused.npz"
    np.savez_compressed(golden / ref, **arrays)
    out.update(
        reference=ref,
        checkpoint=entry["checkpoint"],
        checkpoint_sha256=digest,
        input="input of " + entry["reference"],
        input_sha256=hashlib.sha256(src["input"].tobytes()).hexdigest(),
    )
    return out


def full_size(name: str) -> Dict[str, Any]:
    model = DetectionModel(f"{name}.yaml", verbose=False)
    unfused = params(model)
    end2end = getattr(model.model[-1], "one2one_cv2", None) is not None
    model.end2end = end2end
    model.eval().fuse(verbose=False)
    return {"unfused": unfused, "fused": params(model), "signature": signature(model), "end2end": end2end}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--golden", type=Path, default=Path("tests/data/golden/ultralytics"))
    args = parser.parse_args()
    prov = json.loads((args.golden / "provenance.json").read_text())
    fixtures = {}
    for name, entry in prov["fixtures"].items():
        fixtures[name] = make(name, args.golden, entry)
        print(name, fixtures[name]["params"], fixtures[name].get("nms_params", ""))
    counts = {}
    for name in FULL_SIZE:
        counts[name] = full_size(name)
        print(name, counts[name])
    script = Path(__file__).read_bytes()
    out = {
        **golden_provenance(
            "python tools/make_ultralytics_fused_golden.py --golden tests/data/golden/ultralytics"
        ),
        "script_sha256": hashlib.sha256(script).hexdigest(),
        "what": (
            "model, _ = ultralytics.nn.tasks.load_checkpoint(<fixture>.pt); "
            "model.end2end = <fixture end2end>; model.float().eval().fuse(); outputs on "
            "<fixture>.npz['input']: per-level outputs of the kept head branch (forward hooks on cv2/cv3, "
            "or one2one_cv2/one2one_cv3 for end2end) and model(x)[0]; NMS-free fixtures also with "
            "model.end2end = False (nms_* keys); params = sum(p.numel()) after fuse(); "
            "signature = sha256('\\n'.join(f'{k}:{tuple(v.shape)}' for k, v in state_dict().items()))[:16]"
        ),
        "fixtures": fixtures,
        "full_size_what": (
            "m = ultralytics.nn.tasks.DetectionModel(f'{name}.yaml'); m.end2end = <head has one2one>; "
            "m.eval().fuse(); fused = sum(p.numel() for p in m.parameters()); signature as for the fixtures"
        ),
        "full_size": counts,
    }
    (args.golden / "fused_provenance.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
