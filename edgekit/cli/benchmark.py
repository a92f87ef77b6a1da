"""``edgekit benchmark``: latency, throughput, memory, size and mAP per backend x precision."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import click

from edgekit.backends import NAMES
from edgekit.vocab import BENCH_PRECISIONS


def _split(value: Optional[str], known: Sequence[str], option: str) -> Optional[List[str]]:
    """A comma-separated list, each item one of ``known`` (else a one-line usage error)."""
    if not value:
        return None
    items = [v.strip().lower() for v in value.split(",") if v.strip()]
    unknown = [v for v in items if v not in known]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)} is not one of {', '.join(known)}", param_hint=option)
    return items


@click.command("benchmark")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--target", "-t", default="cpu", show_default=True, help="Target when converting a checkpoint.")
@click.option(
    "--backends", help="Comma-separated (default: a bundle's own; for a checkpoint onnxruntime,openvino)."
)
@click.option(
    "--precisions", help="Comma-separated: fp32,bf16,fp16 (default: a bundle's own; checkpoint fp32,bf16)."
)
@click.option(
    "--record/--no-record",
    default=None,
    help="Record the fastest backend in the bundle (device_choice.json), or never; "
    "default: only when it won beyond the run's noise.",
)
@click.option("--imgsz", help="Input size when converting: 640 or WIDTHxHEIGHT.")
@click.option("--workdir", type=click.Path(path_type=Path), help="Keep converted bundles here.")
@click.option(
    "--runs",
    type=int,
    default=50,
    show_default=True,
    help="Timed runs per configuration, in rotating blocks of up to 10 (edgekit.timing).",
)
@click.option(
    "--warmup",
    type=int,
    default=3,
    show_default=True,
    help="Untimed runs each time a configuration takes over.",
)
@click.option("--threads", type=int, help="Inference threads (default: the backend's).")
@click.option("--data", type=click.Path(path_type=Path), help="YOLO data.yaml or COCO json: adds mAP.")
@click.option("--throughput-images", type=int, default=32, show_default=True, help="0 skips throughput.")
@click.option("--no-memory", is_flag=True, help="Skip the per-configuration memory subprocesses.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the table.")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), help="Also write a CSV here.")
@click.option("--plot", "plot_path", type=click.Path(path_type=Path), help="Also write latency vs mAP (PNG).")
def benchmark_cmd(
    sources: Tuple[Path, ...],
    target: str,
    backends: Optional[str],
    precisions: Optional[str],
    record: Optional[bool],
    imgsz: Optional[str],
    workdir: Optional[Path],
    runs: int,
    warmup: int,
    threads: Optional[int],
    data: Optional[Path],
    throughput_images: int,
    no_memory: bool,
    as_json: bool,
    csv_path: Optional[Path],
    plot_path: Optional[Path],
) -> None:
    """Benchmark SOURCES: bundle folders as they are, or .pt/.pth checkpoints converted per
    backend/precision; several in one run share one table (and the same rotating timing blocks).

    On a bundle with several backends (a Raspberry Pi bundle: OpenVINO and LiteRT) the fastest
    is printed; recorded in the bundle (Detector and edgekit predict then use it by default on
    this machine) with --record, or when it won by 5 % or more in 3 of 4 paired rounds.
    """
    from edgekit.bench import run_benchmark
    from edgekit.cli.convert import parse_imgsz

    if runs < 1:
        raise click.BadParameter("must be >= 1", param_hint="--runs")
    run = run_benchmark(
        list(sources),
        target=target,
        backends=_split(backends, NAMES, "--backends"),
        precisions=_split(precisions, BENCH_PRECISIONS, "--precisions"),
        imgsz=parse_imgsz(imgsz),
        workdir=workdir,
        runs=runs,
        warmup=warmup,
        threads=threads,
        data=data,
        memory=not no_memory,
        throughput_images=throughput_images,
        log=None if as_json else click.echo,
        record_choice=record,
    )
    click.echo(run.json() if as_json else run.table())
    if csv_path:
        csv_path.write_text(run.csv())
    if plot_path:
        written = run.plot(plot_path)
        if not as_json:
            click.echo(f"plot: {written}")
