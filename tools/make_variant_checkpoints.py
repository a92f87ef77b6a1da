"""Write official-format, untrained checkpoints of every full-size variant (dev-only).

One checkpoint per variant, each built the way its official code builds an untrained model
(official weight init and detect-head bias init kept), then with RANDOM BatchNorm running
statistics (mean ~ N(0, 0.3), var ~ U(0.3, 1.8), seeded per variant) so that BN folding is
exercised. The class scores of such a model are tiny (the bias init puts them at ~1e-4..1e-2):
the sweep in ``tests/verify/test_variants.py`` checks that edgekit's verification never fails
a valid model like these.

Families (``--family``; default: every family whose code imports in this venv):

- ``ultralytics``: each scale of yolov8/yolov9/yolov10/yolo11/yolo26 from the REAL pip package
  (``DetectionModel(cfg, nc=80)``), saved like the trainer and finalized by Ultralytics'
  ``strip_optimizer``. Needs ``ultralytics`` (run it in ``.venv-fixtures``, with
  ``TORCHVISION_SHIM`` set as for ``tools/make_ultralytics_golden.py``).
- ``rtdetr``: Ultralytics' ``rtdetr-l``, ``rtdetr-x``, ``rtdetr-resnet50`` and ``rtdetr-resnet101``
  (``RTDETRDetectionModel``, its own decoder init: class prior 0.01, box heads' last layers zero),
  the same way and venv.
- ``yolov9``: every WongKinYiu YOLOv9 / GELAN variant edgekit knows, rebuilt by edgekit, with
  the official ``initialize_weights`` (BN eps 1e-3, momentum 0.03) and ``bias_init`` of
  ``models/yolo.py``, written by ``edgekit.models.yolov9.writer`` (stripped layout, epoch -1).
- ``damoyolo``: every DAMO-YOLO variant edgekit knows, with ``Detector.init_model`` of
  tinyvision/DAMO-YOLO (BN eps 1e-3 / momentum 0.03, ``TinyNAS_mob.init_weights`` for Nano,
  ``ZeroHead.init_weights``), written by ``edgekit.models.damoyolo.writer``.

Output: ``<out>/<family>/<name>.pt[h]`` and ``<out>/variants.json`` (merged across runs, so the
families can be written from different venvs).

Usage::

    TORCHVISION_SHIM=/work/shared/tools/torchvision_cpu_shim.py \\
        .venv-fixtures/bin/python tools/make_variant_checkpoints.py --family ultralytics rtdetr
    .venv/bin/python tools/make_variant_checkpoints.py --family yolov9 damoyolo
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch
from torch import nn

NC = 80
IMGSZ = 640
NAMES = {i: f"class{i}" for i in range(NC)}
DEFAULT_OUT = Path(os.environ.get("TMPDIR", "/tmp")) / "edgekit-variants"
LISTING = "variants.json"

ULTRALYTICS_YAMLS = (
    [f"yolov8{s}" for s in "nsmlx"]
    + [f"yolov9{s}" for s in "tsmce"]
    + [f"yolov10{s}" for s in "nsmblx"]
    + [f"yolo11{s}" for s in "nsmlx"]
    + [f"yolo26{s}" for s in "nsmlx"]
)

Record = Dict[str, Any]


def seed_of(name: str) -> int:
    """A stable per-variant seed (independent of the order and of the subset written)."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def randomize_bn_stats(model: nn.Module, seed: int) -> int:
    """Random running statistics for every BatchNorm2d (nothing else changes); returns the count."""
    gen = torch.Generator().manual_seed(seed)
    count = 0
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d) and m.running_mean is not None:
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.3)
            m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.3)
            count += 1
    return count


def record(
    name: str,
    family: str,
    path: Path,
    out: Path,
    model: nn.Module,
    n_bn: int,
    seed: int,
    made: str,
    **extra: Any,
) -> Record:
    """What the manifest of the sweep says of one checkpoint (``extra`` before seed and provenance)."""
    return {
        "name": name,
        "family": family,
        "file": str(path.relative_to(out)),
        "params": n_params(model),
        "bn_randomized": n_bn,
        **extra,
        "seed": seed,
        "made": made,
    }


def n_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def set_bn(model: nn.Module, eps: float = 1e-3, momentum: float = 0.03) -> None:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps, m.momentum = eps, momentum


# --------------------------------------------------------------------------- Ultralytics


def _ultralytics_env() -> None:
    os.environ.setdefault("YOLO_OFFLINE", "True")
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "edgekit-yolo-cfg"))
    shim = os.environ.get("TORCHVISION_SHIM")
    if shim and "_EK_SHIM" not in globals():  # CPU-only torch + CUDA torchvision wheel
        import runpy

        globals()["_EK_SHIM"] = runpy.run_path(shim)  # keep its registrations alive


def ultralytics_variants() -> Dict[str, Callable[[Path], Record]]:
    _ultralytics_env()
    import ultralytics  # noqa: F401  (fails here, not half-way, when absent)

    return {name: (lambda out, n=name: make_ultralytics(n, out)) for name in ULTRALYTICS_YAMLS}


def make_ultralytics(name: str, out: Path) -> Record:
    import ultralytics
    from fixture_common import save_trainer_checkpoint
    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils import DEFAULT_CFG_DICT

    seed = seed_of(name)
    torch.manual_seed(seed)  # the official init draws from the global generator
    model = DetectionModel(f"{name}.yaml", nc=NC, verbose=False)  # initialize_weights + Detect.bias_init
    n_bn = randomize_bn_stats(model, seed)
    model.names = dict(NAMES)
    train_args = {**DEFAULT_CFG_DICT, "model": f"{name}.yaml", "imgsz": IMGSZ}
    model.args = dict(train_args)
    model.eval()
    path = out / "ultralytics" / f"{name}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_trainer_checkpoint(model, path, train_args)  # finalized as the trainer does at the end
    head = model.model[-1]
    made = (
        f"ultralytics {ultralytics.__version__} DetectionModel('{name}.yaml', nc={NC}) "
        "(official initialize_weights + Detect.bias_init), BN running stats randomized, "
        "trainer dict with FP16 'ema', finalized by ultralytics strip_optimizer"
    )
    end2end = getattr(head, "one2one_cv2", None) is not None
    return record(name, "ultralytics", path, out, model, n_bn, seed, made, end2end=end2end)


RTDETR_YAMLS = ("rtdetr-l", "rtdetr-x", "rtdetr-resnet50", "rtdetr-resnet101")


def rtdetr_variants() -> Dict[str, Callable[[Path], Record]]:
    _ultralytics_env()
    import ultralytics  # noqa: F401

    return {name: (lambda out, n=name: make_rtdetr(n, out)) for name in RTDETR_YAMLS}


def make_rtdetr(name: str, out: Path) -> Record:
    """An Ultralytics RT-DETR from the package's yaml, its own init (RTDETRDecoder._reset_parameters:
    class biases at prior 0.01, the box heads' last layers zero), BatchNorm statistics randomized."""
    import ultralytics
    from fixture_common import save_trainer_checkpoint
    from ultralytics.nn.tasks import RTDETRDetectionModel
    from ultralytics.utils import DEFAULT_CFG_DICT

    seed = seed_of(name)
    torch.manual_seed(seed)
    model = RTDETRDetectionModel(f"{name}.yaml", nc=NC, verbose=False)
    n_bn = randomize_bn_stats(model, seed)
    model.names = dict(NAMES)
    train_args = {**DEFAULT_CFG_DICT, "model": f"{name}.yaml", "imgsz": IMGSZ}
    model.args = dict(train_args)
    model.eval()
    path = out / "rtdetr" / f"{name}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_trainer_checkpoint(model, path, train_args)
    made = (
        f"ultralytics {ultralytics.__version__} RTDETRDetectionModel('{name}.yaml', nc={NC}) "
        "(official init: RTDETRDecoder._reset_parameters), BN running stats randomized, "
        "trainer dict with FP16 'ema', finalized by ultralytics strip_optimizer"
    )
    return record(name, "rtdetr", path, out, model, n_bn, seed, made, end2end=True)


# --------------------------------------------------------------------------- WongKinYiu YOLOv9


def yolov9_bias_init(head: nn.Module) -> None:
    """``bias_init`` of the official ``DDetect`` / ``DualDDetect`` (models/yolo.py), every branch set."""
    nc = head.nc
    pairs = [("cv2", "cv3")] + ([("cv4", "cv5")] if hasattr(head, "cv4") else [])
    with torch.no_grad():
        for box_name, cls_name in pairs:
            for box, cls, s in zip(getattr(head, box_name), getattr(head, cls_name), head.stride):
                box[-1].bias.fill_(1.0)  # box
                cls[-1].bias[:nc] = math.log(5 / nc / (640 / float(s)) ** 2)  # cls (5 objects, 640 img)


def yolov9_variants() -> Dict[str, Callable[[Path], Record]]:
    from edgekit.models.yolov9.archs import VARIANTS

    return {name: (lambda out, n=name: make_yolov9(n, out)) for name in VARIANTS}


def make_yolov9(name: str, out: Path) -> Record:
    from edgekit.models.loader import build_model
    from edgekit.models.yolov9.writer import write_official_checkpoint

    seed = seed_of(name)
    torch.manual_seed(seed)  # PyTorch's default conv init, as the official (initialize_weights skips convs)
    model = build_model(name, nc=NC).model
    set_bn(model)  # initialize_weights: eps 1e-3, momentum 0.03
    yolov9_bias_init(model.head)
    n_bn = randomize_bn_stats(model, seed)
    path = out / "yolov9" / f"{name}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    # stripped layout (utils/general.py strip_optimizer): epoch -1, no ema/optimizer
    write_official_checkpoint(model, path, names=NAMES, epoch=-1, opt={"imgsz": IMGSZ})
    made = (
        f"edgekit build_model('{name}', nc={NC}), official initialize_weights (BN eps 1e-3, "
        "momentum 0.03) + bias_init (box 1.0, cls log(5/nc/(640/s)^2)), BN running stats randomized, "
        "edgekit.models.yolov9.writer.write_official_checkpoint (epoch -1)"
    )
    return record(name, "yolov9", path, out, model, n_bn, seed, made)


# --------------------------------------------------------------------------- DAMO-YOLO


def damo_mob_backbone_init(backbone: nn.Module) -> None:
    """``TinyNAS_mob.init_weights`` (Nano backbones); ``TinyNAS_res``/``_csp`` and the neck do nothing."""
    with torch.no_grad():
        for name, m in backbone.named_modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0, 0.01 if "first" in name else 1.0 / m.weight.shape[1])
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0.0001)
                nn.init.constant_(m.running_mean, 0)


def damo_head_init(head: nn.Module) -> None:
    """``ZeroHead.init_weights``: normal(0, 0.01) convs; ``gfl_cls`` bias at prior probability 0.01."""
    bias_cls = float(-math.log((1 - 0.01) / 0.01))
    with torch.no_grad():
        for convs in list(head.cls_convs) + list(head.reg_convs):  # empty with stacked_convs=0
            for m in convs.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.normal_(m.weight, 0, 0.01)
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
        for cls, reg in zip(head.gfl_cls, head.gfl_reg):
            nn.init.normal_(cls.weight, 0, 0.01)
            nn.init.constant_(cls.bias, bias_cls)
            nn.init.normal_(reg.weight, 0, 0.01)
            nn.init.constant_(reg.bias, 0)


def damoyolo_variants() -> Dict[str, Callable[[Path], Record]]:
    from edgekit.models.damoyolo.archs import ARCHS

    return {name: (lambda out, n=name: make_damoyolo(n, out)) for name in ARCHS}


def make_damoyolo(name: str, out: Path) -> Record:
    from edgekit.models.damoyolo.archs import get_arch
    from edgekit.models.damoyolo.model import DamoYolo
    from edgekit.models.damoyolo.writer import write_official_checkpoint

    seed = seed_of(name)
    torch.manual_seed(seed)
    arch = get_arch(name)
    model = DamoYolo(arch, NC)  # PyTorch default init, as the official modules
    set_bn(model)  # Detector.init_bn
    if arch.backbone == "mob":
        damo_mob_backbone_init(model.backbone)
    damo_head_init(model.head)
    n_bn = randomize_bn_stats(model, seed)
    path = out / "damoyolo" / f"{name}.pth"
    write_official_checkpoint(model, path, epoch=0)
    made = (
        f"edgekit DamoYolo({name}, nc={NC}), official Detector.init_model (BN eps 1e-3, "
        "momentum 0.03; TinyNAS_mob.init_weights for Nano; ZeroHead.init_weights: normal 0.01, "
        "gfl_cls bias -log(99)), BN running stats randomized, "
        "edgekit.models.damoyolo.writer.write_official_checkpoint"
    )
    return record(name, "damoyolo", path, out, model, n_bn, seed, made, imgsz=arch.imgsz)


FAMILIES: Dict[str, Callable[[], Dict[str, Callable[[Path], Record]]]] = {
    "ultralytics": ultralytics_variants,
    "rtdetr": rtdetr_variants,
    "yolov9": yolov9_variants,
    "damoyolo": damoyolo_variants,
}


def versions() -> Dict[str, Optional[str]]:
    got: Dict[str, Optional[str]] = {"python": platform.python_version(), "torch": torch.__version__}
    for mod in ("ultralytics", "edgekit"):
        module = sys.modules.get(mod)
        got[mod] = getattr(module, "__version__", None) if module else None
    return got


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", nargs="*", choices=sorted(FAMILIES), help="default: all importable")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--only", nargs="*", help="variant names (default: all of the families)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    listing_path = args.out / LISTING
    listing = json.loads(listing_path.read_text()) if listing_path.exists() else {"variants": {}}

    explicit = bool(args.family)
    for family in args.family or list(FAMILIES):
        try:
            makers = FAMILIES[family]()
        except ImportError as exc:
            if explicit:
                raise
            print(f"skip {family}: {exc}", file=sys.stderr)
            continue
        for name, make in makers.items():
            if args.only and name not in args.only:
                continue
            t0 = time.perf_counter()
            record = make(args.out)
            record["seconds"] = round(time.perf_counter() - t0, 1)
            record["versions"] = versions()
            record["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            listing["variants"][f"{family}/{name}"] = record
            listing_path.write_text(json.dumps(listing, indent=2) + "\n")  # after each: partial runs count
            print(f"{family}/{name}: {record['params']:,} params -> {record['file']}", flush=True)
    listing["command"] = "python tools/make_variant_checkpoints.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    listing_path.write_text(json.dumps(listing, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
