"""``edgekit devices``: list the target profiles, or show one with its default plan."""

from __future__ import annotations

import json
from typing import List, Optional, Sequence

import click

from edgekit.devices import DeviceProfile, profiles, resolve_plan, resolve_target

_COLUMNS = ("NAME", "ALIASES", "ARCH", "BACKENDS", "DEFAULT", "INT8", "FP16", "DLA", "JETPACK")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _jetpacks(profile: DeviceProfile) -> str:
    if not profile.jetpacks:
        return "-"
    return " ".join(
        f"{r.version}*" if r.version == profile.default_jetpack else r.version for r in profile.jetpacks
    )


def profile_row(profile: DeviceProfile) -> List[str]:
    return [
        profile.name,
        ",".join(profile.aliases) or "-",
        profile.arch,
        ",".join(profile.backend_names),
        profile.default_precision,
        _yes(profile.int8),
        _yes(profile.fp16),
        str(profile.dla_cores),
        _jetpacks(profile),
    ]


def format_table(rows: Sequence[Sequence[str]], header: Sequence[str] = _COLUMNS) -> str:
    """Left-aligned plain-text columns (no rich: this runs on devices)."""
    table = [list(header), *[list(r) for r in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table)


def _details(profile: DeviceProfile) -> str:
    rows = [
        ("name", profile.name),
        ("title", profile.title),
        ("aliases", ", ".join(profile.aliases) or "-"),
        ("arch", profile.arch),
        ("cpu", profile.cpu),
        ("accelerator", profile.accelerator or "-"),
        ("memory", " / ".join(f"{m} GB" for m in profile.memory_gb) or "depends on the machine"),
        ("backends", ", ".join(f"{b.name} ({' '.join(b.precisions)})" for b in profile.backends)),
        ("int8 / fp16 / dla", f"{_yes(profile.int8)} / {_yes(profile.fp16)} / {profile.dla_cores}"),
    ]
    for release in profile.jetpacks:
        mark = " (default)" if release.version == profile.default_jetpack else ""
        rows.append(
            (
                f"jetpack {release.version}",
                f"L4T {release.l4t}, TensorRT {release.tensorrt}, CUDA {release.cuda}, "
                f"Python {release.python}, max opset {release.max_opset}, "
                f"DLA {_yes(release.dla)}{mark}",
            )
        )
    if profile.python:
        rows.append(("python", f"{profile.python} ({profile.os})"))
    for constraints in profile.int8_constraints:
        rows.append((f"int8 {constraints.backend}", f"{constraints.scheme}: {constraints.note}"))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def install_text(name: Optional[str]) -> str:
    """Per-JetPack install lines of a Jetson profile (cuda-python pinned to the board's CUDA)."""
    from edgekit.devices.jetpack import PIP_TENSORRT, install_lines
    from edgekit.errors import UnsupportedTargetError

    if name is None:
        raise UnsupportedTargetError(
            "--install needs a Jetson target, e.g. edgekit devices jetson-orin-nano --install"
        )
    profile, _ = resolve_target(name)
    if not profile.is_jetson:
        raise UnsupportedTargetError(f"--install lists JetPack lines; {profile.name} is not a Jetson")
    blocks = []
    for release in profile.jetpacks:
        stack = f"TensorRT {release.tensorrt}, CUDA {release.cuda}, Python {release.python}"
        head = f"# JetPack {release.version} ({stack})"
        lines = [head, *install_lines(release)]
        pip = PIP_TENSORRT.get(release.version)
        if pip is not None:
            dla = "with DLA" if profile.name in pip[1] else "no DLA on this board"
            lines.append(
                f"# JetPack {release.version}.2+: TensorRT {pip[0]} from pip ({dla}; edgekit's build code is "
                f"contract-checked against it, not yet run on a board): {pip[2]}"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


@click.command("devices")
@click.argument("name", required=False)
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON: every full profile, or one profile and its plan."
)
@click.option("--install", is_flag=True, help="With a Jetson NAME: the runtime's install lines per JetPack.")
def devices(name: Optional[str], as_json: bool, install: bool) -> None:
    """List target device profiles; with NAME, show one profile and its default plan."""
    if install:
        click.echo(install_text(name))
        return
    if name is None:
        catalog = profiles()
        if as_json:
            click.echo(json.dumps([p.to_dict() for p in catalog], indent=2))
        else:
            click.echo(format_table([profile_row(p) for p in catalog]))
            click.echo("\naliases: 'cpu' = the CPU of this machine; * = default JetPack")
        return
    profile, _ = resolve_target(name)
    plan = resolve_plan(name)
    if as_json:
        click.echo(json.dumps({"profile": profile.to_dict(), "plan": plan.to_dict()}, indent=2))
        return
    click.echo(_details(profile))
    click.echo("\ndefault plan:")
    click.echo("  " + plan.describe().replace("\n", "\n  "))
