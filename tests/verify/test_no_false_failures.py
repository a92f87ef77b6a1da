"""The other direction of the fault tests: no valid model fails its checks. Every committed golden
checkpoint (each family's official-format writer, official initialization, untrained) and every
trained fixture converts for the CPU target (OpenVINO and onnxruntime, both verified against
PyTorch) at three input sizes: square, landscape and portrait, none of them the training size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Tuple

import pytest

torch = pytest.importorskip("torch")  # the converter side (the device suite runs without torch)

from edgekit.contract.model import LoadedModel  # noqa: E402
from edgekit.models.loader import load_checkpoint  # noqa: E402

from ..conftest import need  # noqa: E402
from ..converters.helpers import convert_quietly, verified  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
CHECKPOINTS = sorted(
    [p for p in (DATA / "golden").rglob("*") if p.suffix in (".pt", ".pth")]
    + list((DATA / "fixtures").glob("*.pt"))
)
SIZES: List[Tuple[int, int]] = [(96, 96), (128, 224), (192, 128)]  # (height, width)

pytestmark = pytest.mark.slow


def load(path: Path) -> LoadedModel:
    """As ``edgekit convert`` reads it; the DAMO-YOLO golden files are custom tiny structures that
        their tests build with the arch given (``--arch``), as a user of a custom model would; so are the
    RT-DETRv2 ones (their query count, evaluation layer and encoder heads)."""
    if path.parent.name == "damoyolo" and path.parent.parent.name == "golden":
        from edgekit.loading.checkpoint import read_checkpoint
        from edgekit.models.damoyolo import FAMILY

        from ..models.damoyolo.helpers import TINY

        return FAMILY.load(read_checkpoint(path), TINY[path.stem][0])
    if path.parent.name == "rtdetrv2":  # custom configs: what the shapes cannot show, as --arch gives it
        fixtures = json.loads((path.parent / "provenance.json").read_text())["fixtures"]
        return load_checkpoint(path, arch=fixtures[path.stem]["edgekit_arch"])
    return load_checkpoint(path)


@pytest.fixture(scope="module", autouse=True)
def backends() -> None:
    for name in ("onnxruntime", "onnxslim", "openvino"):
        need(name)


def test_the_sweep_covers_every_family() -> None:
    families = {load(p).info.family for p in CHECKPOINTS}
    assert families == {"ultralytics", "yolov9", "damoyolo", "rtdetrv2"}, families
    assert len(CHECKPOINTS) >= 15


@pytest.mark.parametrize("ckpt", CHECKPOINTS, ids=[str(p.relative_to(DATA)) for p in CHECKPOINTS])
def test_every_checkpoint_converts_and_verifies(ckpt: Path, tmp_path: Path) -> None:
    loaded = load(ckpt)
    for h, w in SIZES:
        bundle = convert_quietly(loaded, tmp_path / f"{h}x{w}.edgekit", "x86-avx2", (h, w))
        manifest = json.loads((bundle / "manifest.json").read_text())
        figures = verified(manifest, ["openvino", "onnxruntime"])
        for backend, fig in figures.items():
            assert fig["detections"]["required"] > 0, (ckpt.name, (h, w), backend)
