"""What the fixture trainers share: the dataset, the held-out scoring and the card facts.

Scoring always goes through ``edgekit.eval.evaluate`` (the one evaluation module):
``evaluate_bundle`` scores the deploy form (an edgekit FP32 onnxruntime bundle: PGI
stripped, RepConvs and Conv+BN fused), ``evaluate_torch`` the train-time PyTorch model
with the same decoding (best class per anchor, conf 0.001, per-class NMS at IoU 0.6, at
most 300 boxes per image).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np

EVAL_CONF, EVAL_IOU, EVAL_MAX_DET = 0.001, 0.6, 300  # COCO-style evaluation thresholds
DATASET = {"generator": "edgekit.testing.shapes", "seed": 0, "train": 4000, "val": 500, "test": 500}


def ensure_dataset(
    data: Path, seed: int = 0, sizes: Dict[str, int] | None = None, task: str = "detect", imgsz: int = 320
) -> Path:
    """``data/data.yaml``, generating the seeded shapes dataset (``task``'s labels) there first if
    it is missing."""
    if (data / "data.yaml").is_file():
        return data / "data.yaml"
    from edgekit.testing import generate

    sizes = sizes or DATASET
    return generate(
        data, sizes["train"], sizes["val"], sizes["test"], seed=seed, imgsz=imgsz, workers=2, task=task
    ).data_yaml


def to_float(out: Any) -> Any:
    """Every tensor of a (nested) model output as float32 (a bf16-autocast forward pass's outputs
    go to the loss in float32)."""
    import torch

    if torch.is_tensor(out):
        return out.float()
    if isinstance(out, dict):
        return {k: to_float(v) for k, v in out.items()}
    if isinstance(out, (list, tuple)):
        return type(out)(to_float(v) for v in out)
    return out


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores"


def _test_images(data: Path) -> tuple[Path, list]:
    gt = data / "annotations" / "test.json"
    return gt, json.loads(gt.read_text())["images"]


def evaluate_bundle(checkpoint: Path, data: Path, imgsz: int) -> dict:
    """FP32 metrics of the edgekit onnxruntime bundle (the deploy form) on the test split."""
    from edgekit import convert
    from edgekit.detector import Detector
    from edgekit.eval import evaluate

    gt, images = _test_images(data)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = convert(
            checkpoint, target="x86-avx2", imgsz=imgsz, output=Path(tmp) / "b.edgekit", measure=False
        )
        det = Detector(bundle, conf=EVAL_CONF, iou=EVAL_IOU, max_det=EVAL_MAX_DET)
        preds = []
        for img in images:
            r = det(data / "images" / "test" / img["file_name"])
            preds.append(
                {"image_id": img["id"], "boxes": r.xyxy, "scores": r.confidence, "class_ids": r.class_id}
            )
        result = evaluate(gt, preds)
    return result.to_dict()


def evaluate_torch(forward: Callable, head, pixel_scale: float, data: Path, batch: int = 25) -> dict:
    """Metrics of a PyTorch model's raw head output (``forward(x) -> (boxes, classes)`` per
    level) on the test split; ``head`` is the family's ``HeadSpec``. The test images are
    square at the model's size, so no resize is involved."""
    import cv2
    import torch

    from edgekit.contract.decode import decode
    from edgekit.decoding.nms import batched_nms
    from edgekit.eval import evaluate

    gt, images = _test_images(data)
    preds: List[dict] = []
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            chunk = images[start : start + batch]
            pixels = [
                cv2.cvtColor(cv2.imread(str(data / "images" / "test" / i["file_name"])), cv2.COLOR_BGR2RGB)
                for i in chunk
            ]
            x = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).float() * pixel_scale
            boxes, scores = decode(forward(x), head)
            boxes = boxes.clamp(min=0).minimum(torch.tensor([x.shape[3], x.shape[2]] * 2, dtype=boxes.dtype))
            for img, b, s in zip(chunk, boxes.numpy(), scores.numpy()):  # clipped as edgekit's decoders do
                cls = s.argmax(1)
                conf = s[np.arange(len(s)), cls]
                keep = conf > EVAL_CONF
                b, conf, cls = b[keep], conf[keep], cls[keep]
                idx = batched_nms(b, conf, cls, EVAL_IOU, max_det=EVAL_MAX_DET)
                preds.append(
                    {"image_id": img["id"], "boxes": b[idx], "scores": conf[idx], "class_ids": cls[idx]}
                )
    return evaluate(gt, preds).to_dict()


def save_trainer_checkpoint(
    model: Any, path: Path, train_args: Dict[str, Any], finalize: bool = True
) -> Path:
    """``model`` saved as the Ultralytics trainer saves ``last.pt`` (FP16 ``ema``, ``train_args``),
    then, with ``finalize``, passed through Ultralytics' own ``strip_optimizer`` like a ``best.pt``.
    Needs the real ``ultralytics`` package (``.venv-fixtures``)."""
    import copy
    from datetime import datetime, timezone

    import torch
    import ultralytics
    from ultralytics.utils.torch_utils import strip_optimizer

    checkpoint = {
        "epoch": 0,
        "best_fitness": None,
        "model": None,
        "ema": copy.deepcopy(model).half(),
        "updates": 1,
        "optimizer": None,
        "train_args": train_args,
        "train_metrics": {},
        "date": datetime.now(timezone.utc).isoformat(),
        "version": ultralytics.__version__,
    }
    torch.save(checkpoint, path)
    if finalize:
        strip_optimizer(path)
    return path


def golden_provenance(command: str) -> Dict[str, Any]:
    """The versions, date and command every golden file's ``provenance.json`` opens with (needs the
    real ``ultralytics``)."""
    from datetime import datetime, timezone

    import torch
    import ultralytics

    return {
        "source": "ultralytics (pip package, AGPL-3.0): https://github.com/ultralytics/ultralytics",
        "ultralytics_version": ultralytics.__version__,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python": platform.python_version(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
    }


def randomize_batch_norm(bn: Any, gen: Any) -> None:
    """Random affine parameters and running statistics for one BatchNorm (``gen``: a torch.Generator),
    so that folding it is never an identity in the golden files."""
    import torch

    c = bn.num_features
    bn.weight.data = torch.rand(c, generator=gen) + 0.5
    bn.bias.data = torch.randn(c, generator=gen) * 0.3
    bn.running_mean = torch.randn(c, generator=gen) * 0.3
    bn.running_var = torch.rand(c, generator=gen) * 1.5 + 0.3
