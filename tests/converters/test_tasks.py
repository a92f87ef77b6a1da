"""Segment, pose and OBB models through the whole conversion: official-format checkpoints (built
by ultralytics 8.4.190 with random weights and BatchNorm statistics,
``tests/data/golden/ultralytics_tasks``) convert for ``cpu``, ``rpi5`` and ``jetson`` (all nine for
each), every artifact verified against the PyTorch forward (boxes, scores, mask coefficients and
prototypes, keypoints, rotated boxes) through ``edgekit.verify``, and the bundle's ``Detector``
returns the task's arrays. Faults in the task decoding are caught."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # the converter side

from edgekit.errors import VerificationError  # noqa: E402
from edgekit.models.loader import load_checkpoint  # noqa: E402

from ..conftest import need  # noqa: E402
from .helpers import convert_quietly, verified  # noqa: E402

TASKS = Path(__file__).resolve().parents[1] / "data" / "golden" / "ultralytics_tasks"
NAMES = [f"{v}_{t}" for v in ("yolov8", "yolo11", "yolo26") for t in ("seg", "pose", "obb")]
IMGSZ = 64
ROLES = {
    "seg": {"boxes", "scores", "mask_coefficients", "prototypes"},
    "pose": {"boxes", "scores", "keypoints"},
    "obb": {"rboxes", "scores"},
}


@pytest.fixture(scope="module", autouse=True)
def backends() -> None:
    need("onnxruntime")
    need("openvino")


def convert(name: str, dest: Path, target: str = "cpu", **options: Any) -> dict:
    bundle = convert_quietly(load_checkpoint(TASKS / f"{name}.pt"), dest, target, IMGSZ, **options)
    return json.loads((bundle / "manifest.json").read_text())


def frame(seed: int = 0) -> np.ndarray:
    """A 90x120 BGR image from outside any training domain: smooth noise."""
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 255, (9, 12, 3)).astype(np.float32)
    return np.repeat(np.repeat(low, 10, 0), 10, 1).astype(np.uint8)


@pytest.mark.parametrize("name", NAMES)
def test_every_task_checkpoint_converts_for_the_cpu_and_its_detector_returns_the_task(
    name: str, tmp_path: Path
) -> None:
    from edgekit import Detector

    manifest = convert(name, tmp_path / "b.edgekit")
    figures = verified(manifest, ["onnxruntime", "openvino"])
    task = name.split("_")[1]
    roles = {o["role"] for o in manifest["outputs"]}
    end2end = name.startswith("yolo26")
    if end2end:
        assert roles & {"detections", "rotated_detections"} and manifest["decoder"]["type"] == "nms-free"
    else:
        assert ROLES[task] <= roles, roles
        checked = {row["role"] for row in figures["openvino"]["outputs"]}
        assert ROLES[task] <= checked  # each task output compared with its own bound
    assert manifest["decoder"]["task"] == {"seg": "segment"}.get(task, task)
    with Detector(tmp_path / "b.edgekit", backend="onnxruntime", conf=0.01) as det:
        result = det(frame())
    assert len(result) > 0
    if task == "seg":
        assert result.masks.shape == (len(result), 90, 120) and result.masks.dtype == bool
    elif task == "pose":
        k = manifest["decoder"]["keypoints"][0]
        assert result.keypoints.shape == (len(result), k, 3)
        assert (result.keypoints[..., 0] <= 120).all() and (result.keypoints[..., 1] <= 90).all()
    else:
        assert result.xywhr.shape == (len(result), 5)
        assert ((result.xywhr[:, 4] >= 0) & (result.xywhr[:, 4] < np.pi / 2)).all()


@pytest.mark.slow  # 18 conversions: minutes on 2 cores
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("target", ["rpi5", "jetson"])
def test_task_models_convert_for_the_pi_and_the_jetson(name: str, target: str, tmp_path: Path) -> None:
    if target == "rpi5":
        need("ai_edge_litert")
        need("litert_torch")
    manifest = convert(name, tmp_path / "b.edgekit", target)
    verified(manifest, ["tflite"] if target == "rpi5" else ["tensorrt"])
    if target == "jetson":
        assert manifest["build"]["trtexec"].startswith("trtexec --onnx=model.onnx")


def test_a_keypoint_decode_of_the_wrong_generation_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deploy head decodes a YOLO11 (v8-style) pose model as YOLO26 would: the walker names it."""
    import dataclasses

    import edgekit.reparam.task_heads as task_heads

    real = task_heads.TaskHead.__init__

    def wrong(self: Any, model: Any, head: Any, *args: Any, **kwargs: Any) -> None:
        real(self, model, dataclasses.replace(head, keypoint_decode="v26"), *args, **kwargs)

    monkeypatch.setattr(task_heads.TaskHead, "__init__", wrong)
    with pytest.raises(VerificationError, match="output_form"):
        convert("yolo11_pose", tmp_path / "faulty.edgekit")
    assert not (tmp_path / "faulty.edgekit").exists()


def test_an_angle_decode_of_the_wrong_generation_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    import edgekit.reparam.task_heads as task_heads

    real = task_heads.TaskHead.__init__

    def wrong(self: Any, model: Any, head: Any, *args: Any, **kwargs: Any) -> None:
        real(self, model, dataclasses.replace(head, angle_decode="raw"), *args, **kwargs)

    monkeypatch.setattr(task_heads.TaskHead, "__init__", wrong)
    with pytest.raises(VerificationError, match="output_form"):
        convert("yolo11_obb", tmp_path / "faulty.edgekit")


def test_keypoints_left_in_input_pixels_by_the_host_are_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host decoder forgets the letterbox for keypoints: the detections check compares them."""
    import edgekit.decoding.task_decoders as task_decoders

    monkeypatch.setattr(task_decoders, "points_to_original", lambda xy, geo: np.asarray(xy, np.float32))
    with pytest.raises(VerificationError, match="detections differ"):
        convert("yolov8_pose", tmp_path / "faulty.edgekit")


def test_prototypes_misread_by_the_host_are_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The host reads the prototypes upside down: every mask the bundle gives differs."""
    import edgekit.decoding.task_decoders as task_decoders
    from edgekit.decoding.masks import MaskDecoder

    class Flipped(MaskDecoder):
        def __init__(self, protos: np.ndarray, input_hw: Any) -> None:
            super().__init__(np.ascontiguousarray(protos[:, ::-1]), input_hw)

    monkeypatch.setattr(task_decoders, "MaskDecoder", Flipped)
    message = ""
    with pytest.raises(VerificationError, match="detections differ") as info:
        convert("yolov8_seg", tmp_path / "faulty.edgekit")
    message = str(info.value)
    assert "masks" in message, message
