"""Benchmark output: the machine line, a table, JSON and CSV (one row per configuration)."""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import asdict
from typing import Any, Dict, List, Optional, Sequence

from edgekit.bench.measure import STAGES, Result

CSV_FIELDS = (
    "model",
    "backend",
    "precision",
    "in_effect",
    *(f"{s}_median_ms" for s in STAGES),
    *(f"{s}_p90_ms" for s in STAGES),
    "throughput_ips",
    "throughput_mode",
    "peak_mb",
    "model_mb",
    "size_mb",
    "map50_95",
    "map50",
    "bundle",
)


def machine_info(threads: Optional[int]) -> Dict[str, Any]:
    """CPU model, physical cores, logical CPUs and the inference threads used."""
    from edgekit.devices.host import detect_host

    host = detect_host(probe_modules=False)
    return {
        "cpu": host.cpu_model or "unknown CPU",
        "arch": host.arch,
        "cores": host.cpu_cores,
        "logical_cpus": os.cpu_count(),
        "threads": threads if threads else "backend default",
        "bf16": host.has_bf16,
        "cpu_flags": list(host.cpu_flags),
    }


def machine_line(machine: Dict[str, Any]) -> str:
    return (
        f"machine: {machine['cpu']} [{machine['arch']}], {machine['cores']} cores, "
        f"{machine['logical_cpus']} logical CPUs, threads {machine['threads']}"
    )


def flat_row(result: Result) -> Dict[str, Any]:
    row: Dict[str, Any] = {
        "model": result.model,
        "backend": result.backend,
        "precision": result.precision,
        "in_effect": result.in_effect,
        "throughput_ips": result.throughput,
        "throughput_mode": result.throughput_mode,
        "peak_mb": result.peak_mb,
        "model_mb": result.model_mb,
        "size_mb": result.size_mb,
        "map50_95": result.map50_95,
        "map50": result.map50,
        "bundle": result.bundle,
    }
    for stage in STAGES:
        row[f"{stage}_median_ms"] = result.median_ms[stage]
        row[f"{stage}_p90_ms"] = result.p90_ms[stage]
    return row


def _num(value: Optional[float], fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_table(results: Sequence[Result], machine: Dict[str, Any], settings: Dict[str, Any]) -> str:
    """A fixed-width table; times are medians (p90 of the total beside it)."""
    header = (
        f"{'backend':<12}{'precision':<10}{'in effect':<34}{'pre':>7}{'infer':>8}{'decode':>8}"
        f"{'total':>8}{'p90':>8}{'img/s':>8}  {'mode':<11}{'peak MB':>8}{'+model':>8}{'size MB':>8}"
        f"{'mAP50-95':>9}{'mAP50':>7}"
    )
    width = max((len(r.model) for r in results), default=0)
    if width:  # several sources: which model each row is, first
        width = max(width, len("model")) + 2
        header = f"{'model':<{width}}" + header
    lines = [machine_line(machine), _settings_line(settings), "", header, "-" * len(header)]
    for r in results:
        m, p = r.median_ms, r.p90_ms
        model = f"{r.model:<{width}}" if width else ""
        lines.append(
            f"{model}{r.backend:<12}{r.precision:<10}{r.in_effect[:33]:<34}{m['preprocess']:>7.2f}"
            f"{m['inference']:>8.2f}{m['decode']:>8.2f}{m['total']:>8.2f}{p['total']:>8.2f}"
            f"{_num(r.throughput, '.1f'):>8}  {r.throughput_mode:<11}{_num(r.peak_mb, '.0f'):>8}"
            f"{_num(r.model_mb, '.0f'):>8}{r.size_mb:>8.2f}"
            f"{_num(r.map50_95, '.3f'):>9}{_num(r.map50, '.3f'):>7}"
        )
    lines.append("")
    lines.append(
        "times in ms: median over runs in rotating warmed blocks (p90 of total beside it); "
        "peak MB = RSS high-water of a separate process per configuration, "
        "+model = what loading and running the model added"
    )
    return "\n".join(lines)


def _settings_line(settings: Dict[str, Any]) -> str:
    h, w = settings.get("imgsz", ("?", "?"))
    frame = settings.get("frame", ("?", "?"))
    return (
        f"input {w}x{h}, frame {frame[1]}x{frame[0]}, "
        f"{settings.get('timing') or str(settings.get('runs')) + ' runs'}, source {settings.get('source')}"
    )


def to_json(
    results: Sequence[Result], machine: Dict[str, Any], settings: Dict[str, Any], notes: List[str]
) -> str:
    return json.dumps(
        {
            "machine": machine,
            "settings": settings,
            "results": [{**asdict(r), **flat_row(r)} for r in results],
            "notes": notes,
        },
        indent=2,
        default=str,
    )


def to_csv(results: Sequence[Result]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_FIELDS), lineterminator="\n")
    writer.writeheader()
    for r in results:
        writer.writerow({k: "" if v is None else v for k, v in flat_row(r).items()})
    return buffer.getvalue()
