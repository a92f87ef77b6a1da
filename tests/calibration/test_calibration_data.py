"""CalibrationData from folders, videos, YOLO yaml and COCO json: sampling, skipping, preprocessing."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import List

import numpy as np
import pytest

from edgekit.bundle.manifest import DecoderSpec, OutputSpec, Preprocess
from edgekit.calibration import CalibrationData, CalibrationWarning
from edgekit.decoding.images import load_image
from edgekit.decoding.preprocess import Preprocessor
from edgekit.errors import CalibrationError

from ..conftest import need
from ..decoding.factory import manifest as make_manifest

MANIFEST = make_manifest(
    (OutputSpec("boxes", "boxes", (1, 4, 4)), OutputSpec("scores", "scores", (1, 4, 3))),
    DecoderSpec("nms"),
    height=64,
    width=96,
    preprocess=Preprocess("letterbox", 114, "RGB", 1 / 255),
)


def write_images(folder: Path, n: int, start: int = 0, suffix: str = ".png") -> List[Path]:
    cv2 = need("cv2")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + n):
        rng = np.random.default_rng(i)
        image = rng.integers(0, 256, (40 + i % 7, 50 + i % 5, 3), dtype=np.uint8)
        path = folder / f"img_{i:03d}{suffix}"
        cv2.imwrite(str(path), image)
        paths.append(path)
    return paths


def quiet(*args, **kwargs) -> CalibrationData:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        return CalibrationData(*args, **kwargs)


def test_folder_skips_corrupt_and_non_images(tmp_path: Path) -> None:
    good = write_images(tmp_path / "a", 4) + write_images(
        tmp_path / "a" / "nested", 2, start=10, suffix=".jpg"
    )
    (tmp_path / "a" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "a" / "empty.png").write_bytes(b"")
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    data = quiet(tmp_path / "a", MANIFEST, count=300)
    tensors = list(data)
    assert len(tensors) == len(good) == 6
    assert data.skipped == 3
    reasons = {Path(s.path).name: s.reason for s in data.skipped_files}
    assert set(reasons) == {"broken.jpg", "empty.png", "notes.txt"}
    assert "not an image" in reasons["notes.txt"]
    report = data.report()
    assert report["skipped"] == 3 and report["kind"] == "folder" and report["candidates"] == 8


def test_unreadable_files_are_replaced_up_to_count(tmp_path: Path) -> None:
    write_images(tmp_path, 6)
    for i in range(3):
        (tmp_path / f"bad_{i}.png").write_bytes(b"garbage")
    data = quiet(tmp_path, MANIFEST, count=5, seed=1)
    assert len(list(data)) == 5  # broken candidates drawn early are replaced by later ones
    assert data.skipped <= 3


def test_empty_folder_names_the_path(tmp_path: Path) -> None:
    empty = tmp_path / "nothing here"
    empty.mkdir()
    with pytest.raises(CalibrationError, match="nothing here"):
        CalibrationData(empty, MANIFEST)
    with pytest.raises(CalibrationError, match="missing-folder"):
        CalibrationData(tmp_path / "missing-folder", MANIFEST)
    (empty / "only.txt").write_text("x")
    with pytest.raises(CalibrationError, match="no calibration images"):
        CalibrationData(empty, MANIFEST)


def test_all_unreadable_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"junk")
    data = quiet(tmp_path, MANIFEST)
    with pytest.raises(CalibrationError, match=str(tmp_path.name)):
        list(data)


def test_few_images_warn_and_record(tmp_path: Path) -> None:
    write_images(tmp_path, 5)
    with pytest.warns(CalibrationWarning, match="only 5 calibration images"):
        data = CalibrationData(tmp_path, MANIFEST)
    assert len(data) == 5 and len(list(data)) == 5
    assert any("only 5" in w for w in data.warnings) and data.report()["warnings"] == data.warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # enough images: no warning
        CalibrationData(tmp_path, MANIFEST, min_recommended=5)


def test_same_seed_same_order(tmp_path: Path) -> None:
    write_images(tmp_path, 12)
    a = [x.sum() for x in quiet(tmp_path, MANIFEST, count=6, seed=3)]
    b = [x.sum() for x in quiet(tmp_path, MANIFEST, count=6, seed=3)]
    c = [x.sum() for x in quiet(tmp_path, MANIFEST, count=6, seed=4)]
    assert a == b and len(a) == 6
    assert a != c


def test_tensors_equal_the_runtime_preprocessing(tmp_path: Path) -> None:
    paths = write_images(tmp_path, 3)
    data = quiet(tmp_path, MANIFEST, count=3, seed=0)
    pre = Preprocessor(MANIFEST.preprocess, MANIFEST.input)
    expected = {}
    for path in paths:
        x, _ = pre(load_image(path), color="BGR")
        expected[path] = x.copy()
    order = list(data._order)
    tensors = list(data)
    assert tensors[0].shape == (1, 3, 64, 96) and tensors[0].dtype == np.float32
    for path, x in zip(order, tensors):
        np.testing.assert_array_equal(x, expected[path])
    assert not np.shares_memory(tensors[0], tensors[1])


def test_video_frames_are_sampled(tmp_path: Path) -> None:
    cv2 = need("cv2")
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (80, 60))
    assert writer.isOpened()
    for i in range(30):
        frame = np.full((60, 80, 3), i * 8, np.uint8)
        writer.write(frame)
    writer.release()
    data = quiet(path, MANIFEST, count=8, seed=2)
    assert data.kind == "video" and data.candidates == 30
    frames = list(data.images())
    assert len(frames) == 8 and data.skipped == 0
    levels = [int(np.median(f)) for f in frames]
    assert levels == sorted(levels) and len(set(levels)) == 8  # distinct frames, in video order
    assert [int(np.median(f)) for f in quiet(path, MANIFEST, count=8, seed=2).images()] == levels
    assert len(list(data)) == 8


def test_yolo_yaml_and_coco_json(tmp_path: Path) -> None:
    write_images(tmp_path / "ds" / "images" / "train", 4)
    write_images(tmp_path / "ds" / "images" / "val", 2, start=50)
    yaml_file = tmp_path / "ds" / "data.yaml"
    yaml_file.write_text("path: .\ntrain: images/train\nval: images/val\nnames: {0: a, 1: b}\n")
    data = quiet(yaml_file, MANIFEST)
    assert data.kind == "yolo" and len(list(data)) == 4
    assert len(list(quiet(yaml_file, MANIFEST, split="val"))) == 2
    (tmp_path / "ds" / "nosplit.yaml").write_text("path: .\nnames: [a]\n")
    with pytest.raises(CalibrationError, match=r"nosplit\.yaml"):
        CalibrationData(tmp_path / "ds" / "nosplit.yaml", MANIFEST)

    write_images(tmp_path / "coco" / "val2017", 3, start=70)
    names = [p.name for p in sorted((tmp_path / "coco" / "val2017").iterdir())] + ["missing.jpg"]
    (tmp_path / "coco" / "annotations").mkdir()
    coco = tmp_path / "coco" / "annotations" / "instances.json"
    coco.write_text(json.dumps({"images": [{"id": i, "file_name": n} for i, n in enumerate(names)]}))
    data = quiet(coco, MANIFEST, image_root=tmp_path / "coco" / "val2017")
    assert data.kind == "coco" and len(list(data)) == 3 and data.skipped == 1
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(CalibrationError, match=r"bad\.json"):
        CalibrationData(tmp_path / "bad.json", MANIFEST)


def test_onnxruntime_reader_drives_quantize_static(tmp_path: Path) -> None:
    need("onnxruntime")
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    from ..runtimes.tiny import write_tiny_bundle

    bundle = write_tiny_bundle(tmp_path / "tiny.edgekit")
    from edgekit.bundle import read_bundle

    b = read_bundle(bundle)
    write_images(tmp_path / "imgs", 4)
    data = quiet(tmp_path / "imgs", b, count=4)
    reader = data.onnxruntime_reader()
    assert isinstance(reader, CalibrationDataReader)
    first = reader.get_next()
    assert set(first) == {b.manifest.input.name}
    assert first["images"].shape == (1, 3, b.manifest.input.height, b.manifest.input.width)
    rest = [reader.get_next() for _ in range(4)]
    assert rest[-1] is None and all(r is not None for r in rest[:-1])
    reader.rewind()
    np.testing.assert_array_equal(reader.get_next()["images"], first["images"])
    reader.rewind()
    out = tmp_path / "q.onnx"
    quantize_static(str(b.model_path()), str(out), reader, quant_format=QuantFormat.QDQ)
    assert out.is_file() and out.stat().st_size > 0


def test_reader_ranges_continue_and_strided_calibration_equals_one_pass(tmp_path: Path) -> None:
    need("onnxruntime")
    from onnxruntime.quantization import QuantFormat, quantize_static

    from edgekit.bundle import read_bundle
    from edgekit.calibration.quantize_ort import chunk_size

    from ..runtimes.tiny import write_tiny_bundle

    assert [chunk_size(n, 8) for n in (300, 100, 97, 6, 0)] == [6, 5, 1, 6, 1]
    b = read_bundle(write_tiny_bundle(tmp_path / "tiny.edgekit"))
    write_images(tmp_path / "imgs", 6)
    reader = quiet(tmp_path / "imgs", b, count=6).onnxruntime_reader()
    whole = [reader.get_next()["images"] for _ in range(6)]
    reader.rewind()
    ranged = []
    for start in (0, 2, 4):  # as onnxruntime's CalibStridedMinMax drives it
        reader.set_range(start, start + 2)
        ranged += [reader.get_next()["images"], reader.get_next()["images"]]
        assert reader.get_next() is None
    assert all(np.array_equal(a, b) for a, b in zip(whole, ranged))
    outs = {}
    for stride in (None, 2):
        reader.rewind()
        extra = {"CalibStridedMinMax": stride} if stride else {}
        out = tmp_path / f"q{stride}.onnx"
        quantize_static(
            str(b.model_path()), str(out), reader, quant_format=QuantFormat.QDQ, extra_options=extra
        )
        outs[stride] = out.read_bytes()
    assert outs[None] == outs[2]  # min/max merged over chunks: the same ranges, the same model


def test_nncf_dataset_needs_nncf(tmp_path: Path) -> None:
    import importlib.util

    write_images(tmp_path, 2)
    data = quiet(tmp_path, MANIFEST)
    if importlib.util.find_spec("nncf") is not None:
        assert data.nncf_dataset() is not None
        return
    from edgekit.errors import MissingDependencyError

    with pytest.raises(MissingDependencyError, match="nncf"):
        data.nncf_dataset()


def test_progress_bar_is_optional(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgekit import progress

    write_images(tmp_path, 3)
    quiet_tensors = [x.sum() for x in quiet(tmp_path, MANIFEST, seed=9)]
    notes: list = []
    monkeypatch.setattr(progress.Session, "note", lambda self, text: notes.append(text))
    # counted on the conversion's own live line: no second rich display beside it
    with progress.session(progress=True), progress.step("INT8"):
        shown = [x.sum() for x in quiet(tmp_path, MANIFEST, seed=9, progress=True)]
    assert shown == quiet_tensors and len(shown) == 3
    assert [n.split(": ")[-1] for n in notes] == ["image 1/3", "image 2/3", "image 3/3"]
