"""What convert decides before any export: the input size and whether the calibration set is usable."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from edgekit.converters.options import (
    MIN_CALIB_IMAGES,
    ConvertOptions,
    check_calibration,
    choose_imgsz,
    make_plan,
)
from edgekit.errors import CalibrationError
from edgekit.models.loader import load_checkpoint

from ..cli.helpers import one_line_error, run_cli
from ..conftest import need

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fixtures"


@pytest.mark.parametrize(
    "name, imgsz, expected, source",
    [
        ("yolo26-shapes.pt", None, (320, 320), "the checkpoint's training size"),
        ("yolov9-shapes.pt", None, (320, 320), "the checkpoint's training size"),
        ("yolo11-shapes.pt", (480, 640), (480, 640), "--imgsz"),
        # DAMO-YOLO checkpoints record no training size: the profile's default, said so
        ("damoyolo-shapes.pt", None, (640, 640), "the rpi5 profile's default; the checkpoint records no"),
    ],
)
def test_input_size_follows_the_checkpoint_then_the_profile(name, imgsz, expected, source) -> None:
    info = load_checkpoint(FIXTURES / name).info
    opts = ConvertOptions(target="rpi5", imgsz=imgsz)
    plan, where = choose_imgsz(opts, info, make_plan(opts))
    assert tuple(plan.imgsz) == expected
    assert where.startswith(source), where
    assert f"{expected[1]}x{expected[0]} ({where})" in plan.describe(where)


def test_a_training_size_the_target_refuses_falls_back_with_the_reason() -> None:
    info = load_checkpoint(FIXTURES / "yolo11-shapes.pt").info
    info.imgsz = (330, 330)  # not a multiple of the largest stride
    opts = ConvertOptions(target="cpu")
    plan, where = choose_imgsz(opts, info, make_plan(opts))
    assert tuple(plan.imgsz) == (640, 640)
    assert "does not fit" in where and "multiple of 32" in where


def test_convert_builds_at_the_training_size_and_prints_which(tmp_path: Path) -> None:
    need("onnxruntime")
    dest = tmp_path / "b.edgekit"
    proc = run_cli(
        "convert", str(FIXTURES / "yolo26-shapes.pt"), "--target", "jetson", "-o", str(dest), timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    assert "320x320 (the checkpoint's training size)" in proc.stdout
    manifest = json.loads((dest / "manifest.json").read_text())
    assert (manifest["input"]["height"], manifest["input"]["width"]) == (320, 320)


def _calib_folder(root: Path, good: int, broken: int) -> Path:
    cv2 = need("cv2")
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(good):
        cv2.imwrite(str(root / f"good{i}.png"), rng.integers(0, 255, (64, 80, 3), dtype=np.uint8))
    for i in range(broken):
        (root / f"broken{i}.jpg").write_bytes(b"not a jpeg" * 10)
    return root


def test_int8_from_almost_nothing_is_refused_before_any_export(tmp_path: Path) -> None:
    calib = _calib_folder(tmp_path / "calib", good=1, broken=3)
    started = time.perf_counter()
    proc = run_cli(
        "convert",
        str(FIXTURES / "yolo11-shapes.pt"),
        "--int8",
        "--calib",
        str(calib),
        "-o",
        str(tmp_path / "b.edgekit"),
    )
    line = one_line_error(proc, str(calib), "1 readable calibration images", "3 unreadable")
    assert f"at least {MIN_CALIB_IMAGES}" in line and "--allow-small-calib" in line
    assert proc.stdout == ""  # refused before the plan, the checkpoint read and the export
    assert time.perf_counter() - started < 30
    assert not any(tmp_path.glob("b.edgekit*"))


def test_an_empty_calibration_folder_is_refused_first(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = run_cli(
        "convert", str(FIXTURES / "yolo11-shapes.pt"), "--int8", "--calib", str(tmp_path / "empty")
    )
    one_line_error(proc, str(tmp_path / "empty"), "no calibration images found")
    assert proc.stdout == ""


def test_small_calibration_sets_pass_when_allowed_and_large_ones_always(tmp_path: Path) -> None:
    small = _calib_folder(tmp_path / "small", good=5, broken=2)
    plan = make_plan(ConvertOptions(target="cpu", precision="int8"))
    with pytest.raises(CalibrationError, match="5 readable"):
        check_calibration(ConvertOptions(target="cpu", calib=small), plan)
    found = check_calibration(ConvertOptions(target="cpu", calib=small, allow_small_calib=True), plan)
    assert found == {"readable": 5, "skipped": 2, "candidates": 7}
    large = _calib_folder(tmp_path / "large", good=MIN_CALIB_IMAGES + 3, broken=1)
    found = check_calibration(ConvertOptions(target="cpu", calib=large), plan)
    assert found["readable"] == MIN_CALIB_IMAGES  # stops decoding once the minimum is met
    assert check_calibration(ConvertOptions(target="cpu"), make_plan(ConvertOptions(target="cpu"))) is None


def test_an_input_size_off_the_stride_names_the_nearest_valid_ones() -> None:
    proc = run_cli("convert", str(FIXTURES / "yolo11-shapes.pt"), "--imgsz", "333")
    one_line_error(proc, "--imgsz 333", "multiple of 32", "nearest 320 or 352")
    assert proc.stdout == ""


def test_the_package_lists_its_public_api() -> None:
    import edgekit

    assert {"convert", "Detector", "Detections", "read_bundle", "load_checkpoint"} <= set(dir(edgekit))
    assert not any(name.startswith("_LAZY") for name in dir(edgekit))


def test_names_from_a_data_yaml_a_text_file_or_commas(tmp_path: Path) -> None:
    from edgekit.converters.options import parse_names
    from edgekit.errors import InputFileError

    (tmp_path / "list.yaml").write_text("names: [cat, dog]\n")
    (tmp_path / "ids.yaml").write_text("nc: 2\nnames:\n  1: dog\n  0: cat\n")
    (tmp_path / "names.txt").write_text("cat\n\ndog\n")
    for spec in ("list.yaml", "ids.yaml", "names.txt"):
        assert parse_names(tmp_path / spec) == ("cat", "dog"), spec
    assert parse_names("cat, dog") == ("cat", "dog") and parse_names(["cat", "dog"]) == ("cat", "dog")
    (tmp_path / "gap.yaml").write_text("names: {0: cat, 2: dog}\n")
    (tmp_path / "none.yaml").write_text("path: .\n")
    for spec, message in [
        (tmp_path / "gap.yaml", "ids must be 0..1"),
        (tmp_path / "none.yaml", "no 'names'"),
        (tmp_path / "missing.yaml", "no such names file"),
        ("cat,,dog", "empty class name"),
    ]:
        with pytest.raises(InputFileError, match=message):
            parse_names(spec)


def test_convert_names_gives_a_damo_checkpoint_its_class_names(tmp_path: Path) -> None:
    need("onnxruntime")
    from edgekit.testing import generate
    from edgekit.testing.shapes import CLASS_NAMES

    data = generate(tmp_path / "shapes", 1, 0, 0, seed=1, imgsz=64).data_yaml
    dest = tmp_path / "damo.edgekit"
    args = ["convert", str(FIXTURES / "damoyolo-shapes.pt"), "--imgsz", "128", "--backend", "onnxruntime"]
    proc = run_cli(*args, "--names", str(data), "-o", str(dest), timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert f"class names from {data}: {', '.join(CLASS_NAMES)}" in proc.stdout
    assert json.loads((dest / "manifest.json").read_text())["model"]["class_names"] == list(CLASS_NAMES)
    # too few names: one line naming both counts, refused after the read, before any export
    started = time.perf_counter()
    bad = tmp_path / "bad.edgekit"
    proc = run_cli(*args, "--names", "a,b,c", "-o", str(bad))
    line = proc.stderr.strip().splitlines()[-1]  # after the loader's note on the DAMO-YOLO structure
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert line.startswith("error: a,b,c: 3 class names, but the model has 8 classes (its own names: class0")
    assert not bad.exists() and not list(tmp_path.glob(".bad*"))
    one_line_error(run_cli(*args, "--names", str(tmp_path / "nope.yaml"), "-o", str(bad)), "nope.yaml")
    assert time.perf_counter() - started < 60 and not bad.exists()
