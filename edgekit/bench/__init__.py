"""``edgekit benchmark``: latency per stage, throughput, peak memory, size and mAP per backend x precision.

Importable without torch when it only benchmarks bundles; converting a checkpoint imports the
converter lazily.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from edgekit.bench.configs import Config, prepare
from edgekit.bench.measure import Result, benchmark
from edgekit.bench.report import format_table, machine_info, to_csv, to_json
from edgekit.timing import Schedule

FRAME_SHAPE = (720, 1280)  # a camera frame: preprocessing resizes it, as in deployment


def benchmark_frame(shape: Tuple[int, int] = FRAME_SHAPE, seed: int = 0) -> np.ndarray:
    """A seeded BGR frame: smooth colour bands plus noise (the network sees varied input)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    base = np.broadcast_to(ramp, (h, w, 3)) * np.array([1.0, 0.6, 0.3], np.float32)
    return np.clip(base + rng.normal(0, 30, (h, w, 3)), 0, 255).astype(np.uint8)


class BenchmarkRun:
    """The results of one ``run_benchmark`` call, with its machine, settings and notes."""

    def __init__(
        self, results: List[Result], machine: Dict[str, Any], settings: Dict[str, Any], notes: List[str]
    ) -> None:
        self.results = results
        self.machine = machine
        self.settings = settings
        self.notes = notes

    def table(self) -> str:
        text = format_table(self.results, self.machine, self.settings)
        return text + "".join(f"\nnote: {n}" for n in self.notes)

    def json(self) -> str:
        return to_json(self.results, self.machine, self.settings, self.notes)

    def csv(self) -> str:
        return to_csv(self.results)

    def plot(self, path: Union[str, Path]) -> Path:
        from edgekit.bench.plot import write_plot

        return write_plot(self.results, Path(path))


def run_benchmark(
    source: Union[str, Path, Sequence[Union[str, Path]]],
    target: str = "cpu",
    backends: Optional[Sequence[str]] = None,
    precisions: Optional[Sequence[str]] = None,
    imgsz: Optional[Tuple[int, int]] = None,
    workdir: Optional[Union[str, Path]] = None,
    runs: int = 50,
    warmup: int = 3,
    threads: Optional[int] = None,
    data: Optional[Union[str, Path]] = None,
    memory: bool = True,
    throughput_images: int = 32,
    log: Any = None,
    record_choice: Optional[bool] = None,
) -> BenchmarkRun:
    """Benchmark a bundle folder, or a checkpoint converted per backend/precision into ``workdir``;
    a list of them in one run (one table, every configuration in the same rotating blocks, a
    ``model`` column naming each source).

    ``backends``/``precisions`` None: all of a bundle's models, or for a checkpoint onnxruntime
    and openvino in fp32 and bf16. On a bundle with two backends or more (a Raspberry Pi bundle's
    OpenVINO and LiteRT models) the fastest is named in the notes and recorded in the bundle
    (``Detector`` then opens it by default on this machine): always with ``record_choice`` True,
    never with False, and with None only when it won beyond the run's noise
    (``edgekit.bundle.choice.Comparison.clear``).
    """
    from edgekit.errors import InputFileError

    if data is not None and not Path(data).exists():
        raise InputFileError(data, "no such dataset file")
    machine = machine_info(threads)
    sources = [Path(source)] if isinstance(source, (str, Path)) else [Path(s) for s in source]
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-") as tmp:
        folder = Path(workdir) if workdir else Path(tmp)
        how = (target, backends, precisions, imgsz, machine["cpu_flags"], log)
        configs, notes = _prepare_all(sources, folder, *how)
        frame = benchmark_frame()
        data_path = Path(data) if data else None
        schedule = Schedule.for_runs(runs, warmup)
        results = benchmark(configs, frame, schedule, threads, data_path, memory, throughput_images)
        inp = _input_size(configs[0])
    settings = {
        "source": ", ".join(str(s) for s in sources),
        "target": target,
        "imgsz": inp,
        "frame": list(frame.shape[:2]),
        "runs": schedule.runs,
        "warmup": warmup,
        "timing": schedule.describe(),
        "data": str(data) if data else None,
    }
    if data is None:
        notes.append("mAP not measured (pass --data)")
    if len(sources) == 1 and sources[0].is_dir():
        notes += _record_fastest(sources[0], results, threads, record_choice)
    elif record_choice:
        notes.append("--record applies to one bundle folder: nothing recorded")
    return BenchmarkRun(results, machine, settings, notes)


def _prepare_all(sources: Sequence[Path], folder: Path, *how: Any) -> Tuple[List[Any], List[str]]:
    """Every source's configurations (``configs.prepare``), each labelled with its model, in its own
    work folder when there are several (``a/best.pt`` and ``b/best.pt``)."""
    from edgekit.errors import InputFileError

    configs: List[Any] = []
    notes: List[str] = []
    labels = source_labels(sources)
    for i, src in enumerate(sources):
        work = folder / f"{i}-{src.stem}" if len(sources) > 1 else folder
        found, said = prepare(src, work, *how)
        if not found:
            raise InputFileError(src, "nothing to benchmark: " + "; ".join(said))
        for config in found:
            config.model = labels[i]
        configs += found
        notes += [f"{labels[i]}: {n}" for n in said] if len(sources) > 1 else said
    return configs, notes


def source_labels(sources: Sequence[Path]) -> List[str]:
    """What the model column says per source: its name, with its folder where two names are the
    same (``a/best.pt``, ``b/best.pt``); nothing for a single source."""
    if len(sources) < 2:
        return [""] * len(sources)
    stems = [s.stem for s in sources]
    return [f"{s.parent.name}/{s.stem}" if stems.count(s.stem) > 1 else s.stem for s in sources]


def _record_fastest(
    bundle: Path, results: List[Result], threads: Optional[int], record: Optional[bool]
) -> List[str]:
    """Say which of ``bundle``'s backends ran fastest end to end (as ``Detector`` opens each one)
    and record it when ``record`` is True, or None and the difference is beyond the run's noise."""
    from edgekit.bundle import read_bundle
    from edgekit.bundle.choice import CHOICE_FILE, compare_rounds, record_fastest

    own = {(a.backend, a.precision) for a in read_bundle(bundle).manifest.artifacts}
    rounds = {r.backend: r.rounds_ms for r in results if (r.backend, r.precision) in own}
    comparison = compare_rounds(rounds)
    if comparison is None:
        return []
    line = comparison.describe()
    if record is False or (record is None and not comparison.clear):
        why = "--no-record" if record is False else "within this run's noise"
        return [f"{line}: {why}, not recorded (--record records it for Detector's default here)"]
    try:
        record_fastest(bundle, comparison.median_ms, threads)
    except OSError as exc:
        return [f"{line}: not recorded, {bundle} is not writable ({exc.strerror})"]
    return [f"{line}: recorded in {bundle / CHOICE_FILE}, Detector uses it by default on this machine"]


def _input_size(config: Config) -> List[int]:
    from edgekit.bundle import read_bundle

    inp = read_bundle(config.bundle).manifest.input
    return [inp.height, inp.width]


__all__ = ["BenchmarkRun", "Config", "Result", "benchmark", "benchmark_frame", "run_benchmark"]
