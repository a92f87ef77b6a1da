"""``edgekit convert --int8``: calibration errors, the written INT8 bundle, its report (real CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..cli.helpers import one_line_error, run_cli
from ..conftest import need

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "ultralytics"
TINY = GOLDEN / "yolo11_tiny.pt"


@pytest.fixture(scope="module", autouse=True)
def backends() -> None:
    need("torch")
    need("onnxruntime")
    need("openvino")
    need("nncf")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgekit.testing import generate

    root = tmp_path_factory.mktemp("shapes")
    return generate(root, 16, 8, 1, seed=5, imgsz=128).data_yaml


def test_int8_without_calibration_images_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "b.edgekit"
    one_line_error(run_cli("convert", str(TINY), "--int8", "-o", str(out)), "--calib")
    assert not out.exists()


def test_int8_with_an_empty_calibration_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    out = tmp_path / "b.edgekit"
    proc = run_cli("convert", str(TINY), "--int8", "--calib", str(tmp_path / "empty"), "-o", str(out))
    one_line_error(proc, "empty", "no calibration images")
    assert not out.exists() and not list(tmp_path.glob(".*edgekit*"))


def test_int8_contradicting_precision_is_refused(tmp_path: Path) -> None:
    proc = run_cli("convert", str(TINY), "--int8", "--precision", "fp16", "-o", str(tmp_path / "b"))
    assert proc.returncode != 0 and "--int8 contradicts --precision fp16" in proc.stderr


def test_int8_bundle_carries_both_int8_models_and_the_report(tmp_path: Path, shapes: Path) -> None:
    out = tmp_path / "int8.edgekit"
    proc = run_cli(
        "convert",
        str(TINY),
        "--target",
        "x86-vnni",
        "--imgsz",
        "96",
        "--int8",
        "--calib",
        str(shapes),
        "--calib-images",
        "12",  # of 16: four calibration-disjoint images remain for the agreement check
        "--allow-accuracy-loss",  # untrained weights: near-tied scores; the report still says how far
        "--allow-small-calib",  # 12 readable images: refused without it
        "--bias-correction",
        "fast",  # reaches both quantizers through the recipe
        "--no-silu-ranges",
        "-o",
        str(out),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning: " in proc.stderr and "only 12 calibration images" in proc.stderr
    assert "Collecting tensor data" not in proc.stdout  # onnxruntime's calibrator prints, held back
    manifest = json.loads((out / "manifest.json").read_text())
    arts = {a["backend"]: a for a in manifest["artifacts"]}
    assert set(arts) == {"openvino", "onnxruntime"}
    assert all(a["precision"] == "int8" for a in arts.values())
    assert arts["onnxruntime"]["path"] == "model.int8.onnx" and not (out / "model.onnx").exists()
    report = manifest["verification"]["int8"]
    assert report["calibration"]["planned"] == 12 and report["float_scope"]["tail_nodes"] > 10
    for backend in ("openvino", "onnxruntime"):
        figures = report["backends"][backend]
        assert figures["agreement"]["images_are"] == "calibration-disjoint"
        assert set(figures["agreement"]["outputs"]) == {"boxes", "scores"}
        assert isinstance(figures["accepted"], bool)
    assert report["backends"]["onnxruntime"]["quantizer"]["activation_type"] == "uint8"  # x86 VNNI: U8S8
    recipes = {b: report["backends"][b]["recipe"] for b in ("onnxruntime", "openvino")}  # stored whole
    assert recipes["onnxruntime"]["scheme"] == "qdq-u8s8" and recipes["onnxruntime"]["method"] == "percentile"
    assert recipes["openvino"]["method"] == "minmax" and recipes["openvino"]["preset"] == "mixed"
    assert {r["bias_correction"] for r in recipes.values()} == {"fast"} and not recipes["onnxruntime"][
        "silu_ranges"
    ]
    assert report["backends"]["openvino"]["quantizer"]["bias_correction"] == "fast"  # what NNCF ran
    assert report["backends"]["onnxruntime"]["quantizer"]["silu_ranges"] is None  # the pass was skipped
    # every dequantized weight of the Q/DQ model was read back against FP32: within rounding
    from edgekit.converters.int8_weights import weight_dequantizers

    onnx = need("onnx")
    weights = report["backends"]["onnxruntime"]["weights"]
    assert weights["checked"] == len(weight_dequantizers(onnx.load(str(out / "model.int8.onnx")))) > 20
    assert weights["max_steps"] <= 0.5 + 1e-3 and weights["problems"] == [], weights
    assert report["backends"]["openvino"]["weights"]["checked"] == 0  # NNCF's IR: not read
    # the FP32 source was verified against PyTorch before quantization
    assert manifest["verification"]["bounds"]["fp32"]["precision"] == "fp32"
    image = Path(shapes).parent / "images" / "val"
    for backend in ("openvino", "onnxruntime"):
        pred = run_cli("predict", str(out), str(image), "--backend", backend, "--json", timeout=300)
        assert pred.returncode == 0, pred.stderr


FIXTURE = Path(__file__).resolve().parents[1] / "data" / "fixtures" / "yolo11-shapes.pt"


@pytest.mark.slow
@pytest.mark.parametrize(
    "target, backends",
    [("x86-vnni", ("openvino", "onnxruntime")), ("jetson", ("tensorrt",))],  # U8S8 / NNCF; symmetric S8S8
)
def test_trained_fixture_int8_is_accepted_without_a_fallback(tmp_path: Path, target: str, backends) -> None:
    """Trained weights: the INT8 models agree with FP32 on calibration-disjoint images, first try
    (the TensorRT Q/DQ model is checked in onnxruntime)."""
    from edgekit import convert
    from edgekit.testing import generate

    data = generate(tmp_path / "shapes", 140, 0, 0, seed=11, imgsz=320)
    bundle = convert(
        FIXTURE,
        target=target,
        imgsz=320,
        precision="int8",
        calib=data.root / "images" / "train",
        calib_images=100,
        output=tmp_path / "int8.edgekit",
        measure=False,
    )
    report = json.loads((bundle / "manifest.json").read_text())["verification"]["int8"]
    for backend in backends:
        figures = report["backends"][backend]
        assert figures["accepted"] and len(figures["rounds"]) == 1, figures["rounds"]
        det = figures["agreement"]["detections"]
        assert det["mode"] == "detections" and det["match_rate"] >= 0.9 and det["required"] >= 100, det
        assert figures["agreement"]["outputs"]["boxes"]["cosine"] >= 0.99
        if backend != "openvino":  # Q/DQ ONNX: every weight within rounding of FP32
            assert figures["weights"]["checked"] > 50 and figures["weights"]["max_steps"] <= 0.501


class ScriptedBuilder:
    """``Int8Builder`` over scripted figures: the val drop that each count of float layers gives
    (the quantizers are exercised by the tests above, the search by tests/calibration/test_fallback)."""

    def __new__(cls, drops: dict, fallback: bool = True, head: tuple = ()):  # type: ignore[no-untyped-def]
        from edgekit.calibration.float_scope import FloatScope
        from edgekit.calibration.recipe import QuantRecipe
        from edgekit.converters.int8 import Int8Builder, Int8Options

        class Builder(Int8Builder):
            def quantize(self, backend, exclude, writer):  # type: ignore[no-untyped-def]
                self.quantized.append(list(exclude))
                return None, {"method": "minmax"}

            def measure(self, artifact):  # type: ignore[no-untyped-def]
                drop = drops[len(self.quantized[-1])]
                found = {"found": 9, "required": 9, "kept": 9, "required_actual": 9}
                det = {"mode": "detections", "match_rate": 1.0, **found}
                agreement = {"outputs": {}, "detections": det, "match_rate": 1.0, "problems": [], "images": 9}
                agreement["images_are"] = "calibration-disjoint"
                fp32 = 0.6
                return {
                    "agreement": agreement,
                    "map50_95_fp32": fp32,
                    "map50_95_int8": fp32 - drop / 100,
                    "map_drop_points": drop,
                }

            def ranking(self, backend, exclude, artifact):  # type: ignore[no-untyped-def]
                return [(f"conv{i}", 1.0 / (i + 1)) for i in range(20)]

            def excluded(self, more=()):  # type: ignore[no-untyped-def]
                return list(more)

        builder = object.__new__(Builder)
        builder.opts = Int8Options(Path("."), max_map_drop=0.5, fallback=fallback)
        builder.scope = FloatScope((), (), (), head)
        builder.manifest = type("M", (), {"outputs": ()})()
        builder.recipes = {b: QuantRecipe(b) for b in ("onnxruntime", "openvino")}
        builder.quantized, builder.said = [], []
        builder.say = builder.said.append
        return builder


def test_without_fallback_a_missed_bound_is_reported_after_one_quantization() -> None:
    from edgekit.converters.engine import ConvertOptions

    assert ConvertOptions(calib=Path("c"), int8_fallback=False).int8_options().fallback is False
    builder = ScriptedBuilder({0: 0.9, 2: 0.1}, fallback=False)
    _, report = builder.build("onnxruntime", writer=None)
    assert [len(e) for e in builder.quantized] == [0] and len(report.rounds) == 1
    assert not report.accepted and "0.90 points > 0.5" in report.misses[0]
    assert report.quantizer == {"method": "minmax"} and report.recipe["backend"] == "onnxruntime"


def test_the_q_dq_backends_keep_the_head_float_first_and_openvino_does_not() -> None:
    """NNCF quantizes weighted layers' inputs only; its fallback goes by the ranking alone."""
    builder = ScriptedBuilder({0: 0.6, 3: 0.2}, head=("h1", "h2", "h3"))
    _, report = builder.build("onnxruntime", writer=None)
    assert builder.quantized == [[], ["h1", "h2", "h3"]] and report.rounds[-1].head_float
    assert report.accepted and report.map_drop_points == 0.2
    assert builder.said[-1].endswith("the head's branches kept float")
    builder = ScriptedBuilder({0: 0.6, 2: 0.2}, head=("h1", "h2", "h3"))
    _, report = builder.build("openvino", writer=None)
    assert builder.quantized == [[], ["conv0", "conv1"]]
    assert not any(r.head_float for r in report.rounds)


TASK_FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fixtures"


@pytest.mark.parametrize(
    "task, suffix, metric", [("segment", "seg", "segm"), ("pose", "pose", "keypoints"), ("obb", "obb", "obb")]
)
def test_int8_val_of_a_task_model_reports_the_tasks_own_metric(
    tmp_path: Path, task: str, suffix: str, metric: str
) -> None:
    """``--int8 --val`` on a segment / pose fixture: the drop is of the mask / keypoint mAP (what a
    user of the task reads), the box figure beside it; both agree with ``edgekit val``."""
    from edgekit import convert
    from edgekit.eval.validate import validate
    from edgekit.testing import generate

    data = generate(tmp_path / "shapes", 64, 40, 0, seed=23, imgsz=256, task=task)
    bundle = convert(
        TASK_FIXTURES / f"yolo11-shapes-{suffix}.pt",
        target="x86-vnni",
        imgsz=256,
        precision="int8",
        backend="onnxruntime",
        calib=data.root / "images" / "train",
        calib_images=64,
        allow_small_calib=True,
        val=data.data_yaml,
        output=tmp_path / "int8.edgekit",
        measure=False,
    )
    figures = json.loads((bundle / "manifest.json").read_text())["verification"]["int8"]["backends"][
        "onnxruntime"
    ]
    assert figures["val_metric"] == metric and figures["val_images"] == 40
    result, _ = validate(bundle, data.data_yaml)  # the INT8 bundle as a user scores it
    assert result.task_result is not None and result.task_result.iou_type == metric
    assert figures["map50_95_int8"] == pytest.approx(result.task_result.map50_95, abs=1e-9)
    assert figures["box_map50_95_int8"] == pytest.approx(result.map50_95, abs=1e-9)
    assert figures["map50_95_fp32"] > 0.2 and figures["box_map50_95_fp32"] > 0.2  # trained: not vacuous
    drop = round(100 * (figures["map50_95_fp32"] - figures["map50_95_int8"]), 2)
    assert figures["map_drop_points"] == drop


@pytest.mark.slow
def test_int8_val_on_openvino_runs_nncf_accuracy_control(tmp_path: Path) -> None:
    """``--val`` for OpenVINO: NNCF's accuracy-aware quantization over edgekit's validation function
    (no hand-written search); asked for a drop of at most 0.04 points (aim 0.02) it returns layers
    to float until edgekit's own val, run afterwards, finds the drop within the aim."""
    from edgekit.testing import generate

    data = generate(tmp_path / "shapes", 100, 60, 0, seed=31, imgsz=320)
    out = tmp_path / "int8.edgekit"
    proc = run_cli(
        "convert", str(FIXTURE), "--target", "x86-vnni", "--imgsz", "320", "--backend", "openvino",
        "--int8", "--calib", str(data.root / "images" / "train"), "--calib-images", "100",
        "--val", str(data.data_yaml), "--max-map-drop", "0.04", "-o", str(out), timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    figures = json.loads((out / "manifest.json").read_text())["verification"]["int8"]["backends"]["openvino"]
    ran = figures["quantizer"]
    assert ran["quantizer"] == "nncf.quantize_with_accuracy_control"
    assert ran["accuracy_control"] == {"max_drop_points": 0.02, "validation_items": 60, "ranking_items": 60}
    assert len(figures["rounds"]) == 1  # NNCF's own search; edgekit's fallback did not run again
    assert figures["map50_95_fp32"] > 0.4 and figures["map_drop_points"] <= 0.02 + 0.01, figures
    assert ran["fake_quantize_ops"] > 0  # still an INT8 model
    assert "NNCF accuracy control" in proc.stdout + proc.stderr
