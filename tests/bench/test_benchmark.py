"""``edgekit benchmark`` on real bundles: the converted Ultralytics golden checkpoint, the tiny detector."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from edgekit.bench import run_benchmark
from edgekit.bench.configs import configs_for_bundle
from edgekit.bench.measure import STAGES

from ..cli.helpers import one_line_error, run_cli
from ..conftest import ROOT, need
from ..eval.test_validate import labelled_set
from ..runtimes.tiny import BOXES, write_tiny_bundle

GOLDEN = ROOT / "tests" / "data" / "golden" / "ultralytics" / "yolo11_tiny.pt"


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """yolo11_tiny (Ultralytics' own checkpoint) at 96x64 with an onnxruntime and an OpenVINO artifact."""
    need("torch")
    need("onnxruntime")
    need("openvino")
    from edgekit.converters.engine import ConvertOptions, convert_loaded
    from edgekit.models.loader import load_checkpoint

    dest = tmp_path_factory.mktemp("bench") / "yolo11_tiny.edgekit"
    options = ConvertOptions(target="cpu", imgsz=(64, 96), precision="fp32", measure=False, verify=False)
    return convert_loaded(load_checkpoint(GOLDEN), dest, options)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    need("onnxruntime")
    return write_tiny_bundle(tmp_path / "tiny.edgekit")


def test_benchmark_reports_every_configuration(converted: Path, tmp_path: Path) -> None:
    need("cv2")
    run = run_benchmark(
        converted,
        backends=["onnxruntime", "openvino"],
        precisions=["fp32", "bf16"],
        runs=5,
        warmup=1,
        throughput_images=4,
    )
    names = [r.name for r in run.results]
    bf16 = run.machine["bf16"]
    assert names == ["onnxruntime fp32", "openvino fp32"] + (["openvino bf16"] if bf16 else [])
    for r in run.results:
        for stage in STAGES:
            assert 0 < r.median_ms[stage] <= r.p90_ms[stage]
        assert r.median_ms["total"] >= r.median_ms["inference"]
        assert r.throughput and r.throughput > 0 and r.size_mb > 0
        assert r.peak_mb and r.peak_mb >= r.model_mb > 0  # from a child process per configuration
    by_name = {r.name: r for r in run.results}
    assert by_name["openvino fp32"].in_effect.startswith("f32")
    assert by_name["openvino fp32"].throughput_mode.startswith("async")
    if bf16:
        assert by_name["openvino bf16"].in_effect.startswith("bf16")
    table = run.table()
    first = table.splitlines()[0]
    assert first.startswith("machine:") and run.machine["cpu"] in first and "threads" in first
    assert all(name.split()[0] in table for name in names)


def test_json_csv_and_plot_agree(converted: Path, tmp_path: Path) -> None:
    cv2 = need("cv2")
    run = run_benchmark(
        converted,
        backends=["openvino"],
        precisions=["fp32"],
        runs=3,
        warmup=1,
        throughput_images=0,
        memory=False,
    )
    doc = json.loads(run.json())
    rows = list(csv.DictReader(io.StringIO(run.csv())))
    assert len(rows) == len(doc["results"]) == 1
    for row, entry in zip(rows, doc["results"]):
        assert row["backend"] == entry["backend"] and row["in_effect"] == entry["in_effect"]
        for stage in STAGES:
            assert float(row[f"{stage}_median_ms"]) == pytest.approx(entry["median_ms"][stage])
    assert doc["machine"]["cpu"] and doc["settings"]["imgsz"] == [64, 96]
    png = run.plot(tmp_path / "plot.png")
    image = cv2.imread(str(png))
    assert image is not None and image.shape[0] > 200 and image.shape[1] > 200
    assert (image < 128).any()  # something was drawn


def test_data_adds_map(tiny: Path, tmp_path: Path) -> None:
    need("faster_coco_eval")
    data = labelled_set(tmp_path / "set", BOXES[[0, 2]], [0, 0])
    run = run_benchmark(tiny, runs=3, warmup=1, data=data, memory=False, throughput_images=0)
    assert [r.name for r in run.results] == ["onnxruntime fp32"]
    assert run.results[0].map50_95 == pytest.approx(1.0)
    assert not any("mAP not measured" in n for n in run.notes)
    wrong = labelled_set(tmp_path / "wrong", BOXES[[0, 2]], [1, 1])
    assert run_benchmark(tiny, runs=1, warmup=0, data=wrong, memory=False, throughput_images=0).results[
        0
    ].map50_95 == pytest.approx(0.0)


def test_skips_are_explained(tiny: Path, converted: Path) -> None:
    configs, notes = configs_for_bundle(converted, ["onnxruntime", "openvino"], ["fp32", "bf16", "fp16"], ())
    assert [c.name for c in configs] == ["onnxruntime fp32", "openvino fp32"]  # no bf16 flags given
    assert any("no avx512_bf16" in n for n in notes) and any("openvino fp16" in n for n in notes)
    configs, notes = configs_for_bundle(tiny, ["openvino"], ["fp32"], ())
    assert not configs and "no openvino model" in notes[0]


def test_cli_json_and_errors(tiny: Path, tmp_path: Path) -> None:
    proc = run_cli("benchmark", str(tiny), "--runs", "5", "--json", "--csv", str(tmp_path / "b.csv"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["results"][0]["backend"] == "onnxruntime" and doc["results"][0]["peak_mb"] > 0
    assert (tmp_path / "b.csv").read_text().startswith("model,backend,")
    one_line_error(run_cli("benchmark", str(tmp_path / "missing.pt")), "missing.pt")
    one_line_error(run_cli("benchmark", str(tiny), "--backends", "openvino"), "nothing to benchmark")


@pytest.mark.slow
def test_checkpoint_is_converted_per_precision(tmp_path: Path) -> None:
    need("torch")
    run = run_benchmark(
        GOLDEN,
        backends=["onnxruntime"],
        precisions=["fp32", "fp16"],
        imgsz=(64, 96),
        workdir=tmp_path,
        runs=2,
        warmup=0,
        memory=False,
        throughput_images=0,
    )
    assert [r.name for r in run.results] == ["onnxruntime fp32"]
    assert (tmp_path / "yolo11_tiny-cpu-96x64-fp32.edgekit" / "manifest.json").is_file()
    assert any(n.startswith("onnxruntime fp16: skipped") for n in run.notes)


def test_the_fastest_backend_is_recorded_and_opened_by_default(converted: Path, tmp_path: Path) -> None:
    from edgekit.bundle.choice import CHOICE_FILE, machine_key, record_fastest, recorded_backend
    from edgekit.detector import Detector

    bundle = Path(
        shutil.copytree(converted, tmp_path / "b.edgekit", ignore=shutil.ignore_patterns(CHOICE_FILE))
    )
    run = run_benchmark(bundle, runs=3, warmup=1, memory=False, throughput_images=0, record_choice=True)
    assert sorted(r.name for r in run.results) == ["onnxruntime fp32", "openvino fp32"]  # the bundle's own
    record = json.loads((bundle / CHOICE_FILE).read_text())
    median = {r.backend: r.median_ms["total"] for r in run.results}
    assert record["backend"] == min(median, key=median.get) and record["machine"] == machine_key()
    assert any(n.startswith(f"fastest here: {record['backend']}") for n in run.notes)
    assert Detector(bundle).backend == record["backend"]
    for fastest in ("openvino", "onnxruntime"):  # the record decides, not the manifest's order
        slow = {"onnxruntime": 5.0, "openvino": 5.0, fastest: 1.0}
        record_fastest(bundle, slow)
        assert Detector(bundle).backend == fastest
    first = json.loads((bundle / "manifest.json").read_text())["artifacts"][0]["backend"]
    record_fastest(bundle, {"onnxruntime": 5.0, "openvino": 5.0, first: 9.0})  # the other one
    other = json.loads((bundle / CHOICE_FILE).read_text())
    other["machine"]["cpu"] = "another CPU"
    (bundle / CHOICE_FILE).write_text(json.dumps(other))
    assert recorded_backend(bundle) is None and Detector(bundle).backend == first
    (bundle / CHOICE_FILE).write_text("{not json")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert Detector(bundle).backend == first
    assert any(CHOICE_FILE in str(w.message) for w in caught)
    assert not list(bundle.glob(f".{CHOICE_FILE}*"))  # no temporary file left behind


def test_one_backend_records_nothing_and_no_record_writes_nothing(converted: Path, tmp_path: Path) -> None:
    from edgekit.bundle.choice import CHOICE_FILE

    bundle = Path(
        shutil.copytree(converted, tmp_path / "b.edgekit", ignore=shutil.ignore_patterns(CHOICE_FILE))
    )
    run_benchmark(bundle, backends=["openvino"], runs=1, warmup=0, memory=False, throughput_images=0)
    assert not (bundle / CHOICE_FILE).exists()
    proc = run_cli(
        "benchmark", str(bundle), "--runs", "2", "--no-memory", "--throughput-images", "0", "--no-record"
    )
    assert proc.returncode == 0, proc.stderr
    assert not (bundle / CHOICE_FILE).exists()
    assert "fastest here:" in proc.stdout and "--no-record, not recorded" in proc.stdout
    # by default: printed either way, recorded only when it won beyond the run's noise
    proc = run_cli("benchmark", str(bundle), "--runs", "4", "--no-memory", "--throughput-images", "0")
    assert proc.returncode == 0 and "fastest here:" in proc.stdout, proc.stderr
    recorded = "recorded in" in proc.stdout
    assert recorded == (bundle / CHOICE_FILE).is_file()
    assert recorded or "within this run's noise, not recorded (--record" in proc.stdout
    proc = run_cli(
        "benchmark", str(bundle), "--runs", "2", "--no-memory", "--throughput-images", "0", "--record"
    )
    assert proc.returncode == 0 and "recorded in" in proc.stdout and (bundle / CHOICE_FILE).is_file()


def test_a_recorded_choice_needs_a_win_beyond_the_noise() -> None:
    from edgekit.bundle.choice import compare_rounds

    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.4, 40)
    base = 10.0 + noise - np.median(noise)  # median exactly 10 ms
    assert compare_rounds({"openvino": base}) is None
    close = compare_rounds({"openvino": base, "tflite": base * 1.03})  # 3 % apart, every round
    assert close and close.fastest == "openvino" and close.win_rate == 1.0 and not close.clear
    clear = compare_rounds({"openvino": base * 1.2, "tflite": base, "onnxruntime": base * 1.1})
    assert clear and clear.fastest == "tflite" and clear.clear and clear.gain == pytest.approx(1 - 1 / 1.1)
    assert "tflite 10.0 ms (vs onnxruntime 11.0 ms, openvino 12.0 ms; 9% ahead" in clear.describe()
    # 10 % apart in the medians, but the rounds split: noise, not a winner
    noisy = compare_rounds({"a": np.r_[base[:20], base[20:] * 1.5], "b": np.r_[base[:20] * 1.25, base[20:]]})
    assert noisy and noisy.gain > 0.05 and noisy.win_rate < 0.75 and not noisy.clear


def test_an_int8_model_is_labelled_int8(tmp_path: Path) -> None:
    need("onnxruntime")
    bundle = write_tiny_bundle(tmp_path / "int8.edgekit", int8=True)  # onnxruntime's own Q/DQ model
    run = run_benchmark(bundle, runs=2, warmup=1, memory=False, throughput_images=0)
    assert [(r.name, r.in_effect) for r in run.results] == [
        ("onnxruntime int8", "int8 (CPUExecutionProvider)")
    ]
    assert "int8 (CPUExecutionProvider)" in run.table()
    args = ("--runs", "2", "--warmup", "1", "--no-memory", "--throughput-images", "0")
    proc = run_cli("benchmark", str(bundle), *args)
    assert proc.returncode == 0, proc.stderr
    row = next(ln for ln in proc.stdout.splitlines() if ln.startswith("onnxruntime"))
    assert row.split()[1:4] == ["int8", "int8", "(CPUExecutionProvider)"], row


def test_several_sources_share_one_table(converted: Path, tmp_path: Path) -> None:
    """A YOLO and an RT-DETR bundle in one run (``edgekit benchmark A B``): one table, a model column,
    every configuration timed in the same rotating blocks and scored on the same data."""
    need("faster_coco_eval")
    from edgekit.converters.engine import ConvertOptions, convert_loaded
    from edgekit.models.loader import load_checkpoint

    rtdetr = ROOT / "tests" / "data" / "golden" / "rtdetr" / "rtdetr_hgnet_tiny.pt"
    options = ConvertOptions(target="cpu", imgsz=(64, 96), precision="fp32", measure=False)
    options = dataclasses.replace(options, backend="onnxruntime")
    detr = convert_loaded(load_checkpoint(rtdetr), tmp_path / "rtdetr_tiny.edgekit", options)
    data = labelled_set(tmp_path / "set", BOXES[[0, 2]], [0, 0])
    names = ", ".join(f"c{i}" for i in range(80))  # as many classes as the larger model predicts
    data.write_text(data.read_text().replace("names: [red, green, blue]", f"names: [{names}]"))
    args = ["benchmark", str(converted), str(detr), "--backends", "onnxruntime", "--precisions", "fp32"]
    proc = run_cli(*args, "--runs", "3", "--no-memory", "--throughput-images", "0", "--data", str(data))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    rows = [line.split() for line in lines if line.startswith(("yolo11_tiny", "rtdetr_tiny"))]
    assert [r[0] for r in rows] == ["yolo11_tiny", "rtdetr_tiny"] and all(r[1] == "onnxruntime" for r in rows)
    header = next(line for line in lines if line.startswith("model"))
    assert header.split()[:2] == ["model", "backend"] and "mAP50-95" in header
    assert all(r[-2] != "-" for r in rows)  # an mAP for each model (a dash where none was measured)


def test_sources_with_one_name_keep_apart(tmp_path: Path) -> None:
    from edgekit.bench import source_labels

    a, b, c = tmp_path / "a" / "best.pt", tmp_path / "b" / "best.pt", tmp_path / "yolo.edgekit"
    assert source_labels([a, b, c]) == ["a/best", "b/best", "yolo"]
    assert source_labels([c]) == [""]  # one source: no model column
