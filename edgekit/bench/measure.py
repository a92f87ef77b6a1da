"""Measure configurations: latency per stage (rotating warmed blocks), throughput, peak memory, size, mAP."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from edgekit.backends import BACKENDS
from edgekit.bench.configs import Config
from edgekit.bench.memory import measure_in_subprocess
from edgekit.timing import Schedule, alternating, by_stage, staged_ms

STAGES = ("preprocess", "inference", "decode", "total")
THROUGHPUT_BATCH = 8


@dataclass
class Result:
    """Everything measured for one configuration (milliseconds, MB, images per second)."""

    backend: str
    precision: str
    in_effect: str  # the precision the backend reports it computes in
    bundle: str
    size_mb: float
    median_ms: Dict[str, float] = field(default_factory=dict)
    p90_ms: Dict[str, float] = field(default_factory=dict)
    throughput: Optional[float] = None
    throughput_mode: str = ""
    peak_mb: Optional[float] = None
    model_mb: Optional[float] = None
    map50_95: Optional[float] = None
    map50: Optional[float] = None
    rounds_ms: List[float] = field(default_factory=list)  # end-to-end ms of each timed run, block by block
    model: str = ""  # the source (bundle folder or checkpoint name) of a run over several

    @property
    def name(self) -> str:
        return f"{self.backend} {self.precision}"


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, np.float64), q))


def artifact_bytes(det: Any) -> int:
    """Bytes of the detector's model file(s) in its bundle."""
    art = det.manifest.artifact(det.backend)
    return int(art.size + sum(f.size for f in art.files))


def in_effect(det: Any) -> str:
    """What the backend computes in, read back from it where it says (not what was asked).

    onnxruntime runs a model in its own precision (an INT8 Q/DQ model's quantized ops in INT8);
    OpenVINO reports its inference precision hint, which applies to the ops an INT8 model
    leaves in float.
    """
    runtime = det.runtime
    model = det.artifact.precision
    if hasattr(runtime, "precision_hint"):
        if model == "int8":
            return f"int8 + {runtime.precision_hint} (hint read back)"
        return f"{runtime.precision_hint} (hint read back)"
    if hasattr(runtime, "providers"):
        return f"{model} ({runtime.providers[0]})"
    return model


def open_detector(config: Config, threads: Optional[int], **extra: Any) -> Any:
    from edgekit.detector import Detector

    return Detector(
        config.bundle, backend=config.backend, threads=threads, **{**config.runtime_options, **extra}
    )


def block_latency(
    detectors: Sequence[Any], frame: np.ndarray, schedule: Schedule
) -> List[Dict[str, List[float]]]:
    """Per detector, per stage, its timed runs: every detector one block at a time, warmed after
    each switch, in rotating order (``edgekit.timing``); run ``i`` of each comes from one block."""
    for det in detectors:  # first compilation / allocation, outside every block
        det(frame)
    calls = [staged_ms(functools.partial(det, frame), lambda d=det: d.timings) for det in detectors]
    return [{s: table[s] for s in STAGES} for table in map(by_stage, alternating(calls, schedule))]


def throughput(config: Config, threads: Optional[int], frame: np.ndarray, images: int) -> tuple:
    """Images per second end to end: an async request queue where the backend has one
    (``Backend.throughput_options``: OpenVINO's throughput mode), else batches or one by one."""
    queued = dict(BACKENDS.get(config.backend).throughput_options)
    if queued:
        det = open_detector(config, threads, **queued)
        try:
            runtime = det.runtime
            mode = f"async x{runtime.optimal_requests}"
            list(_queued_pipeline(det, frame, min(images, 4)))  # warm-up
            start = time.perf_counter()
            list(_queued_pipeline(det, frame, images))
            return images / (time.perf_counter() - start), mode
        finally:
            det.close()
    det = open_detector(config, threads)
    try:
        batch = THROUGHPUT_BATCH if det.runtime.dynamic_batch else 1
        mode = f"batch {batch}" if batch > 1 else "sequential"
        frames = [frame] * batch
        det.batch(frames)
        rounds = max(1, images // batch)
        start = time.perf_counter()
        for _ in range(rounds):
            det.batch(frames)
        return rounds * batch / (time.perf_counter() - start), mode
    finally:
        det.close()


def _queued_pipeline(det: Any, frame: np.ndarray, images: int) -> Any:
    """Preprocess, infer through the async queue, decode: what a throughput user runs."""
    prepared = [det.preprocess(frame) for _ in range(images)]
    outputs = det.runtime.infer_many(x for x, _ in prepared)
    for out, (_, geo) in zip(outputs, prepared):
        yield det.decoder(out, [geo], det.options)


def benchmark(
    configs: Sequence[Config],
    frame: np.ndarray,
    schedule: Schedule = Schedule(),
    threads: Optional[int] = None,
    data: Optional[Path] = None,
    memory: bool = True,
    throughput_images: int = 32,
) -> List[Result]:
    """Measure every configuration; latency in blocks rotating across all of them (``schedule``)."""
    # Peak memory first, each configuration in a child interpreter: spawning children while this
    # process tears down OpenVINO's throughput-mode streams aborted it now and then (CI, 2 cores).
    memories = [
        measure_in_subprocess(c.bundle, c.backend, c.runtime_options, threads) if memory else None
        for c in configs
    ]
    detectors = [open_detector(c, threads) for c in configs]
    try:
        samples = block_latency(detectors, frame, schedule)
        results = []
        for config, det, times in zip(configs, detectors, samples):
            results.append(
                Result(
                    config.backend,
                    config.precision,
                    in_effect(det),
                    str(config.bundle),
                    artifact_bytes(det) / 1e6,
                    {s: percentile(v, 50) for s, v in times.items()},
                    {s: percentile(v, 90) for s, v in times.items()},
                    rounds_ms=list(times["total"]),
                    model=config.model,
                )
            )
        if data is not None:
            from edgekit.eval.validate import validate

            for det, result in zip(detectors, results):
                metrics, _ = validate(det, data)
                result.map50_95, result.map50 = metrics.map50_95, metrics.map50
    finally:
        for det in detectors:
            det.close()
    for config, result, mem in zip(configs, results, memories):
        if throughput_images > 0:
            result.throughput, result.throughput_mode = throughput(config, threads, frame, throughput_images)
        if mem:
            result.peak_mb, result.model_mb = mem["peak_mb"], mem["model_mb"]
    return results
