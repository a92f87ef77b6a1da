"""``edgekit inspect``: what a checkpoint holds and what ``convert`` will do to it."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List, Optional

import click

from edgekit import progress


def describe_model(
    path: Path, arch: Optional[str] = None, imgsz: Optional[int] = None, target: Optional[str] = None
) -> Dict[str, Any]:
    """Load ``path`` safely and describe it as a JSON-ready dict.

    With ``target``, also resolve the conversion plan and run the reparameterization pipeline
    (verified pass by pass): ``plan`` and ``reparam`` (params, GFLOPs, CPU latency per pass).
    """
    from edgekit.models.loader import load_checkpoint
    from edgekit.reparam.summary import (
        FLOPS_CONVENTION,
        count_params,
        gflops,
        reparam_steps,
        structure_rows,
    )

    with progress.step(f"reading {Path(path).name}"):
        loaded = load_checkpoint(path, arch=arch)
    info, model = loaded.info, loaded.model
    size = (imgsz, imgsz) if imgsz else tuple(info.imgsz)
    pre, head, s = info.preprocess, info.head, info.structures
    d = {
        "file": str(path),
        "sha256": info.source_sha256,
        "family": info.family,
        "variant": info.variant,
        "nc": info.nc,
        "names": list(info.names),
        "params": count_params(model),
        "gflops": gflops(model, size),
        "gflops_convention": FLOPS_CONVENTION,
        "imgsz": list(size),
        "trained_imgsz": list(info.imgsz) if info.imgsz_recorded else None,
        "preprocess": asdict(pre),
        "head": asdict(head),
        "structures": asdict(s),
        "structure_rows": structure_rows(info),
        "reparam_steps": reparam_steps(s),
    }
    if target is not None:
        from edgekit.converters.engine import reparameterize_for
        from edgekit.converters.options import ConvertOptions, choose_imgsz, make_plan

        opts = ConvertOptions(target=target, imgsz=imgsz)
        plan, imgsz_from = choose_imgsz(opts, info, make_plan(opts))
        plan = plan.with_head(head.bins, head.end2end, head.task, head.queries)
        with progress.step("reparameterizing"):
            _, report = reparameterize_for(loaded, plan)
        d["plan"] = plan.to_dict()
        d["plan_text"] = plan.describe(imgsz_from)
        d["reparam"] = report.to_dict()
        d["reparam_table"] = report.format_table()
    return d


def _preprocess_line(d: Dict[str, Any]) -> str:
    pre = d["preprocess"]
    h, w = d["imgsz"]
    resize = f"letterbox (pad {pre['pad_value']})" if pre["resize"] == "letterbox" else pre["resize"]
    if abs(pre["scale"] - 1 / 255) < 1e-9:
        scale = "pixels x 1/255"
    elif pre["scale"] == 1.0:
        scale = "pixels 0-255 (not scaled)"
    else:
        scale = f"pixels x {pre['scale']:g}"
    return f"{pre['color']}, {resize} to {h}x{w}, {scale}"


def _head_line(d: Dict[str, Any]) -> str:
    head = d["head"]
    if head.get("queries"):
        return f"{head['queries']} object queries (boxes as x1, y1, x2, y2), NMS-free top-{head['max_det']}"
    strides = "/".join(str(s) for s in head["strides"])
    dfl = f"DFL {head['bins']} bins" if head["bins"] > 1 else "direct ltrb (no DFL)"
    where = "cell centres" if head["anchor_offset"] else "cell corners"
    post = f"NMS-free top-{head['max_det']}" if head["end2end"] else "needs NMS"
    if d["structures"]["one_to_many_head"]:  # both branches: --head picks
        post = "two heads: one2one (NMS-free, exported by default) and one2many (needs NMS; --head one2many)"
    return f"strides {strides}, {dfl}, anchors at {where}, {post}"


def _task_line(d: Dict[str, Any]) -> str:
    """The head's task and its per-anchor extras (mask coefficients, keypoints, angle)."""
    head = d["head"]
    task = head.get("task", "detect")
    if task == "segment":
        return f"segment: boxes, scores, {head['masks']} mask coefficients and prototypes"
    if task == "pose":
        n, dims = head["keypoints"]
        what = "x, y, visibility" if dims == 3 else "x, y"
        return f"pose: boxes, scores, {n} keypoints ({what}; {head['keypoint_decode']} decode)"
    if task == "obb":
        return f"obb: rotated boxes (centre, size, angle; {head['angle_decode']} angle), scores"
    return "detect: boxes, scores"


def _gflops_text(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.3g}"


def render(d: Dict[str, Any]) -> str:
    """The human-readable report."""
    names = d["names"]
    shown = ", ".join(names[:10]) + (f", ... (+{len(names) - 10})" if len(names) > 10 else "")
    h, w = d["imgsz"]
    rows: List[tuple] = [
        ("file", f"{d['file']} (sha256 {str(d['sha256'])[:12]})"),
        ("family", d["family"]),
        ("variant", d["variant"]),
        ("classes", f"{d['nc']}: {shown}"),
        ("parameters", f"{d['params']:,}"),
        ("GFLOPs", f"{_gflops_text(d['gflops'])} at {h}x{w} (2 x MACs)"),
        ("input", _preprocess_line(d)),
        ("task", _task_line(d)),
        ("head", _head_line(d)),
    ]
    lines = [f"{k:<12} {v}" for k, v in rows]
    lines.append("train-time structures:")
    lines += [f"  {k:<24} {v}" for k, v in d["structure_rows"]]
    steps = d["reparam_steps"]
    lines.append("convert will apply:" if steps else "convert will apply: nothing (already in deploy form)")
    lines += [f"  {i}. {step}" for i, step in enumerate(steps, 1)]
    if "plan_text" in d:
        lines += [
            "conversion plan:",
            d["plan_text"],
            "reparameterization (run and verified now):",
            d["reparam_table"],
        ]
    return "\n".join(lines)


@click.command("inspect")
@click.argument("checkpoint", type=click.Path(path_type=Path, dir_okay=True))
@click.option("--arch", default=None, help="Variant, where the file does not say (damoyolo-t, gelan-c, ...).")
@click.option("--imgsz", type=click.IntRange(32, 8192), default=None, help="Input size for GFLOPs.")
@click.option(
    "--plan", "show_plan", is_flag=True, help="Also run the reparameterization for --target and report it."
)
@click.option("--target", default="cpu", show_default=True, help="Target of --plan (see edgekit devices).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--verbose", "-v", is_flag=True, help="Show the warnings and logs of torch and the exporters.")
def inspect_cmd(
    checkpoint: Path,
    arch: Optional[str],
    imgsz: Optional[int],
    show_plan: bool,
    target: str,
    as_json: bool,
    verbose: bool,
) -> None:
    """Describe CHECKPOINT: family, variant, classes, size, train-time structures.

    The file is read safely: nothing in it is executed.
    """
    with progress.session(verbose=verbose):
        d = describe_model(checkpoint, arch=arch, imgsz=imgsz, target=target if show_plan else None)
    if as_json:
        d = {k: v for k, v in d.items() if k not in ("structure_rows", "plan_text", "reparam_table")}
        click.echo(json.dumps(d, indent=2))
    else:
        click.echo(render(d))
