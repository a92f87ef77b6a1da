"""Every shell command the README and the docs show is run here, or listed with why it is not.

Cheap commands (``RUN``) are run and their output is compared with the output shown under them
by shape: the first word of each shown line, in order, must appear among the first words of the
real output (timings, versions and paths may differ). The others (``NOT_RUN``) need hardware that
is absent here (a Jetson with TensorRT, a Raspberry Pi, a camera), install packages, or are slow
and covered by the test file their reason names. A command in neither table fails the test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import pytest

from .shown import ROOT, Shown, shown_commands

EDGEKIT = [sys.executable, "-m", "edgekit"]
GOLDEN_V9 = ROOT / "tests" / "data" / "golden" / "yolov9"


@dataclass(frozen=True)
class Run:
    argv: Tuple[str, ...]  # what runs for the shown command (``edgekit`` -> this interpreter's)
    cwd: Optional[Path] = None  # None: a fresh temporary folder
    creates: Optional[str] = None  # instead of comparing output: this file must exist afterwards
    slow: bool = False  # imports torch (a few seconds)


def _edgekit(*args: str, **kw: object) -> Run:
    return Run((*EDGEKIT, *args), **kw)  # type: ignore[arg-type]


GENERATE = "from edgekit.testing import generate; generate('shapes', 0, 40, 0, seed=3, imgsz=320)"
# the walk-through's form of the same command; it shows the file written under it
WALKTHROUGH_GENERATE = 'python -c "' + GENERATE.replace("'", '\\"') + '"'
RUN = {
    "edgekit --help": _edgekit("--help"),
    "edgekit --version": _edgekit("--version"),
    "edgekit devices": _edgekit("devices"),
    "edgekit devices jetson": _edgekit("devices", "jetson"),
    "edgekit doctor": _edgekit("doctor", slow=True),
    "edgekit inspect tests/data/fixtures/yolo11-shapes.pt": _edgekit(
        "inspect", "tests/data/fixtures/yolo11-shapes.pt", cwd=ROOT, slow=True
    ),
    "edgekit inspect tiny_v9t.pt": _edgekit("inspect", "tiny_v9t.pt", cwd=GOLDEN_V9, slow=True),
    WALKTHROUGH_GENERATE: Run((sys.executable, "-c", GENERATE), creates="shapes/data.yaml"),
    f'python -c "{GENERATE}"': Run((sys.executable, "-c", GENERATE), creates="shapes/data.yaml"),
}

JETSON = "needs a Jetson with JetPack's TensorRT (absent here)"
PI = "needs a Raspberry Pi with its camera (absent here); tools/aarch64_check.sh runs the Pi path under qemu"
CAMERA = (
    "needs a camera or an RTSP stream (absent here); streams are tested on files and a local MJPEG "
    "server in tests/pipeline/test_mjpeg.py"
)
INSTALL = "installs from PyPI here; tests/ondevice/test_packaging.py runs installs in fresh venvs"
PLACEHOLDER = (
    "on the user's own files (model.pt, images/, data.yaml); the same command on the fixture is covered by {}"
)
SLOW = "slow ({}); covered by {}"
EXAMPLES = "an example script; run on generated inputs by tests/examples/test_examples.py"

# (pattern matched against the whole normalized command, reason)
NOT_RUN: List[Tuple[str, str]] = [
    (
        r"make (demo|test)",
        "builds the venvs and runs the demo or the whole suite (minutes): CI runs `make test`",
    ),
    (r'pip install (edgekit-detect|"edgekit-detect\[[\w,-]+\]")', INSTALL),
    (r'pip install "edgekit-detect\[tensorrt\]" "numpy<2"', JETSON),
    (r"python3 -m venv --system-site-packages ~/edgekit && \. ~/edgekit/bin/activate", JETSON),
    (
        r"python3 -m venv venv && \. venv/bin/activate && pip install --upgrade pip"
        r"|pip install torch==2\.13\.0 && .*whl.*",
        INSTALL,
    ),
    # the convert -> predict -> benchmark paths, on the user's model or the walk-through's files
    (
        r"edgekit convert (model|yolo11n)\.pt --target (cpu|rpi5)( --imgsz 320)?",
        PLACEHOLDER.format("tests/converters/test_convert.py"),
    ),
    (
        r"edgekit convert model\.pt --target cpu --int8 --calib images/ --val data\.yaml",
        PLACEHOLDER.format("tests/converters/test_int8.py"),
    ),
    (
        r"edgekit convert model\.pt --target (jetson|jetson-agx-orin)"
        r"( --jetpack 5\.1 --dla-core 0| --int8 --calib images/)?",
        PLACEHOLDER.format("tests/converters/test_tensorrt.py"),
    ),
    (
        r"edgekit convert yolo11-shapes\.pt --target cpu",
        SLOW.format("a conversion, 30 s", "tests/cli/test_convert_output.py"),
    ),
    (
        r"edgekit convert tests/data/fixtures/yolo11-shapes\.pt --target cpu --imgsz 320 --int8 .*",
        SLOW.format("INT8 calibration on 300 images, minutes", "tests/converters/test_int8.py"),
    ),
    (
        r"edgekit convert yolo11n-seg\.pt --target cpu",
        PLACEHOLDER.format("tests/converters/test_tasks.py (nine task checkpoints, three targets)"),
    ),
    (
        r"edgekit convert (rtdetr-l\.pt|rtdetrv2_r18vd_120e_coco\.pth|best\.pth) (--target|--arch) .*",
        PLACEHOLDER.format("tests/converters/test_rtdetr.py (the golden RT-DETR and RT-DETRv2 checkpoints)"),
    ),
    (
        r"edgekit predict yolo11n-seg-cpu\.edgekit images/ --save out/ --json",
        PLACEHOLDER.format("tests/converters/test_tasks.py (Detector) and tests/pipeline/test_cli.py"),
    ),
    (
        r"edgekit convert tiny_v9t\.pt --target cpu --imgsz 320x256",
        SLOW.format("a conversion", "tests/converters/test_convert.py"),
    ),
    (
        r"edgekit predict (model|yolo11n)-cpu\.edgekit images/ --save out/",
        PLACEHOLDER.format("tests/pipeline/test_cli.py"),
    ),
    (
        r"edgekit predict (yolo11-shapes|tiny_v9t)-cpu\.edgekit \S+ --save annotated",
        SLOW.format("needs a converted bundle", "tests/pipeline/test_cli.py"),
    ),
    (r"edgekit predict model-rpi5\.edgekit picamera2 --max-frames 100", PI),
    (r"edgekit predict yolo11n-jetson\.edgekit rtsp://camera/stream .*", CAMERA),
    (r"edgekit (build|predict|benchmark) model-jetson\.edgekit( frame\.jpg| --verify)?", JETSON),
    (
        r"edgekit triton model-jetson\.edgekit -o models/( --engine .*)?",
        SLOW.format("needs a converted Jetson bundle", "tests/cli/test_triton.py"),
    ),
    (r"edgekit benchmark model-rpi5\.edgekit", PI),
    (
        r"edgekit benchmark pi-demo .*",
        SLOW.format("needs a converted bundle", "tests/bench/test_benchmark.py"),
    ),
    (
        r"edgekit benchmark (model|yolo11n|yolo11-shapes)(-cpu\.edgekit|\.pt)( .*)?",
        SLOW.format("benchmark rounds on a converted bundle", "tests/bench/test_benchmark.py"),
    ),
    (
        r"edgekit benchmark tests/data/fixtures/yolo11-shapes\.pt .*",
        SLOW.format("converts and benchmarks, minutes", "tests/bench/test_benchmark.py"),
    ),
    (
        r"edgekit convert tests/data/fixtures/yolo11-shapes\.pt --target cpu --precision bf16 .*",
        SLOW.format("converts a fixture for bf16", "tests/converters/test_openvino.py"),
    ),
    (
        r"edgekit val (model|yolo11-shapes)-cpu\.edgekit .*",
        SLOW.format("needs a converted bundle", "tests/eval/test_validate.py"),
    ),
    (
        r"edgekit show tiny_v9t-cpu\.edgekit",
        SLOW.format("needs a converted bundle", "tests/cli/test_main.py"),
    ),
    (
        r"edgekit compare yolo11s-cpu\.edgekit:onnxruntime yolo11s-cpu\.edgekit:openvino",
        SLOW.format("needs a converted YOLO11s bundle", "tests/cli/test_compare.py"),
    ),
    (r"python examples/\w+\.py .*", EXAMPLES),
    (
        r"curl --data-binary @street\.jpg http://127\.0\.0\.1:8000/detect",
        "needs the server above; tests/examples/test_examples.py posts an image to it",
    ),
    # measurement logs: the benchmark and training runs that made the figures
    (
        r"WORK=/tmp/akc2 bash tools/aarch64_check\.sh",
        "root, debootstrap and qemu, 14 minutes: `make check-aarch64`, outside `make test`",
    ),
    (
        r"(\.venv/bin/)?python benchmarks/(int8|reparam|stream|dfl_layout|timing_harness|tasks)\.py( .*)?",
        "a benchmark run (minutes; the figures it printed are the page's); "
        "tests/bench/test_benchmark.py and tests/test_timing.py cover the harness",
    ),
    (
        r"\.venv-fixtures/bin/python (benchmarks|tools)/\S+\.py( .*)?",
        "needs the dev-only ultralytics venv (make fixture-venv) and runs for minutes to half an hour; "
        "tests/tools/test_train_fixture.py covers the tool",
    ),
    (
        r"\.venv/bin/python -m edgekit (convert tests/data/fixtures/yolo11-shapes-(seg|pose|obb)\.pt"
        r"|val /tmp/tfm/(seg|pose|obb)-(fp32|int8)\.edgekit) .*",
        SLOW.format(
            "converts a task fixture (INT8: minutes) or scores it on 500 images",
            "tests/converters/test_tasks.py and tests/eval/test_validate.py",
        ),
    ),
    (
        r"\.venv/bin/python tools/train_family\.py .*",
        "trains a fixture for half an hour; tests/tools/test_train_family.py covers the tool",
    ),
]


def classify(command: str) -> Optional[str]:
    """``"run"``, the reason it is not run, or None for a command in neither table."""
    if command in RUN:
        return "run"
    reasons = [reason for pattern, reason in NOT_RUN if re.fullmatch(pattern, command)]
    return reasons[0] if reasons else None


SHOWN = shown_commands()


def test_the_docs_show_commands() -> None:
    files = {s.where.split(":")[0] for s in SHOWN}
    assert "README.md" in files and len(SHOWN) > 50, files


def test_every_shown_command_is_run_or_excused() -> None:
    unknown = sorted({f"{s.where}: {s.command}" for s in SHOWN if classify(s.command) is None})
    assert not unknown, "commands shown in the docs that no test runs and no reason excuses:\n" + "\n".join(
        unknown
    )


def test_every_table_entry_is_still_shown() -> None:
    commands = {s.command for s in SHOWN}
    stale = [c for c in RUN if c not in commands]
    stale += [p for p, _ in NOT_RUN if not any(re.fullmatch(p, c) for c in commands)]
    assert not stale, f"entries for commands the docs no longer show: {stale}"


def test_the_tests_a_reason_names_exist() -> None:
    for _, reason in NOT_RUN:
        for path in re.findall(r"tests/[\w/]+\.py", reason):
            assert (ROOT / path).is_file(), path


def first_words(lines: Sequence[str]) -> List[str]:
    return [line.split()[0] for line in lines if line.strip() and line.strip() != "..."]


def is_subsequence(want: Sequence[str], have: Sequence[str]) -> bool:
    rest = iter(have)
    return all(any(word == got for got in rest) for word in want)


def _cases() -> List[object]:
    cases = []
    for shown in SHOWN:
        run = RUN.get(shown.command)
        if run is not None:
            marks = [pytest.mark.slow] if run.slow else []
            cases.append(pytest.param(shown, run, id=f"{shown.where} {shown.command[:40]}", marks=marks))
    return cases


@pytest.mark.parametrize(("shown", "run"), _cases())
def test_shown_command_runs_and_its_output_has_the_shown_shape(
    shown: Shown, run: Run, tmp_path: Path
) -> None:
    proc = subprocess.run(
        list(run.argv), cwd=run.cwd or tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{shown.where}: {shown.command}\n{proc.stderr}"
    if run.creates:
        assert (tmp_path / run.creates).is_file(), run.creates
        return
    want, have = first_words(shown.output), first_words(proc.stdout.splitlines())
    assert want, f"{shown.where}: no output shown under {shown.command!r}"
    assert is_subsequence(want, have), (
        f"{shown.where}: the output shown under {shown.command!r} no longer has the shape of the real "
        f"one.\nshown first words: {want}\nreal first words:  {have}"
    )


def test_shape_check_catches_a_changed_output() -> None:
    assert is_subsequence(["Host", "machine", "Backends"], ["Host", "machine", "cpu", "Backends", "numpy"])
    assert not is_subsequence(["Backends", "Host"], ["Host", "machine", "Backends"])
    assert classify("edgekit frobnicate model.pt") is None


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    """The site builds with --strict, and its references list every public name and command."""
    pytest.importorskip("mkdocs", reason='the docs extra: pip install -e ".[docs]"')
    from edgekit import __all__ as public
    from edgekit.cli.main import COMMANDS

    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    cli = (site / "reference" / "cli" / "index.html").read_text()
    missing = [name for name in COMMANDS if f'id="edgekit-{name}"' not in cli]
    assert not missing, f"CLI reference lacks {missing}"
    api = (site / "reference" / "api" / "index.html").read_text()
    missing = [name for name in public if f"edgekit.{name}" not in api]
    assert not missing, f"API reference lacks {missing}"
    schema = (site / "bundles" / "index.html").read_text()
    assert "<!-- gen:" not in schema and 'id="inputspec"' in schema
