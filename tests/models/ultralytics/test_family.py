"""The Ultralytics family: recognition, refusal of other tasks, state dicts, checkpoint details."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest
import torch
from torch import nn

from edgekit.errors import UnsupportedModelError
from edgekit.loading.checkpoint import RawCheckpoint, Record, read_checkpoint
from edgekit.models.base import FAMILIES
from edgekit.models.loader import build_model, choose_family
from edgekit.models.ultralytics import FAMILY, UltralyticsModel, get_arch
from edgekit.models.ultralytics.family import _imgsz, _names, detect_task, infer_scale, sync_from_record

from .helpers import checkpoint_path, load_golden


def fake_ckpt(cls: str, yaml: Any = None, name: str = "model.pt", **top: Any) -> RawCheckpoint:
    """A checkpoint as the safe reader returns it: the model is an inert Record."""
    state: Dict[str, Any] = {"_modules": {}, "_parameters": {}, "_buffers": {}}
    if yaml is not None:
        state["yaml"] = yaml
    return RawCheckpoint(path=Path(name), sha256="0" * 64, obj={"model": Record(cls=cls, state=state), **top})


def yaml_with_head(head: str) -> Dict[str, Any]:
    return {"nc": 2, "backbone": [[-1, 1, "Conv", [8, 3, 2]]], "head": [[[0], 1, head, ["nc"]]]}


def test_registered() -> None:
    assert FAMILIES.get("ultralytics") is FAMILY
    assert {"yolov8n", "yolov9c", "yolov10b", "yolo11x", "yolo12n", "yolo26m"} <= set(FAMILY.variants)


def test_scores() -> None:
    real = read_checkpoint(checkpoint_path("yolo11_tiny"))
    assert FAMILY.score(real) == 1.0
    assert choose_family(real) is FAMILY
    no_yaml = fake_ckpt("ultralytics.nn.tasks.DetectionModel")
    assert FAMILY.score(no_yaml) == 0.5
    wongkinyiu = fake_ckpt("models.yolo.DetectionModel", yaml_with_head("DDetect"))
    assert FAMILY.score(wongkinyiu) == 0.0
    damo = RawCheckpoint(Path("d.pth"), "0" * 64, {"model": {"backbone.stem.conv.weight": torch.zeros(1)}})
    assert FAMILY.score(damo) == 0.0


@pytest.mark.parametrize(
    ("cls", "head", "task"),
    [
        ("ultralytics.nn.tasks.ClassificationModel", "Classify", "classify"),
        ("ultralytics.nn.tasks.YOLOEModel", "YOLOEDetect", r"yoloe \(open-vocabulary detect\)"),
        ("ultralytics.nn.tasks.YOLOESegModel", "YOLOESegment26", "yoloe segment"),
        ("ultralytics.nn.tasks.DepthModel", "Depth", "depth"),
        ("ultralytics.nn.tasks.DetectionModel", "SemanticSegment", "semantic"),  # the yaml's head decides too
        ("ultralytics.nn.tasks.DetectionModel", "YOLOESegment", "yoloe segment"),
    ],
)
def test_other_tasks_are_refused(cls: str, head: str, task: str) -> None:
    ckpt = fake_ckpt(cls, yaml_with_head(head), name="best-seg.pt")
    with pytest.raises(UnsupportedModelError, match=rf"best-seg\.pt: an Ultralytics {task} model"):
        FAMILY.load(ckpt)


@pytest.mark.parametrize(
    ("cls", "head", "task"),
    [
        ("ultralytics.nn.tasks.SegmentationModel", "Segment", "segment"),
        ("ultralytics.nn.tasks.PoseModel", "Pose26", "pose"),
        ("ultralytics.nn.tasks.OBBModel", "OBB", "obb"),
        ("ultralytics.nn.tasks.DetectionModel", "Segment26", "segment"),  # the yaml's head decides
        ("ultralytics.nn.tasks.SegmentationModel", "Detect", "detect"),
        ("ultralytics.nn.tasks.PoseModel", "MyDetect", "pose"),  # an unknown detect head: the class decides
    ],
)
def test_supported_tasks_are_recognised(cls: str, head: str, task: str) -> None:
    rec = fake_ckpt(cls).pick_model()
    assert detect_task(rec, yaml_with_head(head), {}) == task


def test_task_from_train_args() -> None:
    rec = fake_ckpt("ultralytics.nn.tasks.CustomModel").pick_model()
    assert detect_task(rec, None, {"task": "obb"}) == "obb"
    assert detect_task(rec, None, {}) == "detect"


def test_missing_architecture_is_refused() -> None:
    with pytest.raises(UnsupportedModelError, match="carries no architecture"):
        FAMILY.load(fake_ckpt("ultralytics.nn.tasks.DetectionModel", name="x.pt"))


def test_weights_that_do_not_fit_the_yaml_are_refused() -> None:
    ckpt = read_checkpoint(checkpoint_path("yolo11_tiny"))
    ckpt.pick_model().attr("yaml")["nc"] = 9  # the stored class convs have 6 outputs
    with pytest.raises(UnsupportedModelError, match=r"do not fit the architecture: .*of another shape"):
        FAMILY.load(ckpt)


def test_trainer_last_checkpoint_uses_ema() -> None:
    ckpt = read_checkpoint(checkpoint_path("yolov8_tiny"))
    assert ckpt.obj["model"] is None and isinstance(ckpt.obj["ema"], Record)
    assert FAMILY.load(ckpt).info.variant == "yolov8n"


def test_bare_state_dict_needs_arch(tmp_path: Path) -> None:
    built = FAMILY.build("yolov8n", nc=3).model
    with torch.no_grad():
        for p in built.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    path = tmp_path / "weights.pt"
    torch.save(built.state_dict(), path)
    ckpt = read_checkpoint(path)
    assert 0.0 < FAMILY.score(ckpt) < 0.5
    with pytest.raises(UnsupportedModelError, match="pass --arch"):
        FAMILY.load(ckpt)
    loaded = FAMILY.load(ckpt, arch="yolov8n")
    assert loaded.info.nc == 3
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        want, got = built(x), loaded.model(x)
    for a, b in zip(want[0] + want[1], got[0] + got[1]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_infer_scale_from_shapes() -> None:
    with torch.device("meta"):
        sd = UltralyticsModel(get_arch("yolov8s", nc=3)).state_dict()
    cfg = get_arch("yolov8n", nc=3)
    del cfg["scale"]
    assert infer_scale(cfg, sd) == "s"
    assert infer_scale(get_arch("yolo11n", nc=3), sd) is None


def test_activations_and_eps_come_from_the_checkpoint() -> None:
    loaded, _ = load_golden("yolo26_tiny")
    model = loaded.model
    rec = read_checkpoint(checkpoint_path("yolo26_tiny")).pick_model()
    model.model[0].act = nn.ReLU()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = 1e-5
    sync_from_record(model, rec)
    assert isinstance(model.model[0].act, nn.SiLU)
    assert isinstance(model.model[9].cv1.act, nn.Identity)  # YOLO26's SPPF cv1 is not activated
    assert all(m.eps == 1e-3 for m in model.modules() if isinstance(m, nn.BatchNorm2d))


def test_loader_builds_named_variants() -> None:
    loaded = build_model("yolo26n", nc=2)
    assert loaded.info.family == "ultralytics" and loaded.info.head.end2end


def test_names_and_imgsz_helpers() -> None:
    assert _names({0: "cat", 2: "dog"}, 3) == ["cat", "1", "dog"]
    assert _names(["a", "b"], 2) == ["a", "b"]
    assert _names(None, 2) == ["0", "1"]
    assert _imgsz({"imgsz": [480, 640]}) == (480, 640)
    assert _imgsz({"imgsz": 320}) == (320, 320)
    assert _imgsz({}) is None and _imgsz({"imgsz": True}) is None  # none recorded: the profile decides


def test_unknown_activation_in_checkpoint_is_refused() -> None:
    ckpt = read_checkpoint(checkpoint_path("yolo11_tiny"))
    act = ckpt.pick_model().children()["model"].children()["0"].children()["act"]
    act.cls = "ultralytics.nn.modules.activation.AGLU"
    with pytest.raises(UnsupportedModelError, match=r"yolo11_tiny\.pt: model\.0: activation .*AGLU"):
        FAMILY.load(ckpt)
