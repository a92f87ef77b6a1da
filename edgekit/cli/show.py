"""``edgekit show BUNDLE``: validate a bundle and print what its manifest says."""

from __future__ import annotations

import json

import click

from edgekit.bundle import read_bundle

HEAD_TEXT = {
    "one2one": "one2one (NMS-free) of a two-head model; convert --head one2many for the other",
    "one2many": "one2many (needs NMS) of a two-head model; convert --head one2one for the NMS-free one",
}


@click.command("show")
@click.argument("bundle", type=click.Path())
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="Check every model file against the sha256 the manifest records.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def show(bundle: str, verify: bool, as_json: bool) -> None:
    """Validate BUNDLE (a folder with manifest.json) and summarise it."""
    b = read_bundle(bundle, verify_hashes=verify)
    m = b.manifest
    if as_json:
        click.echo(json.dumps(m.to_dict(), indent=2))
        return
    names = ", ".join(m.class_names[:8]) + (", ..." if len(m.class_names) > 8 else "")
    inp, pre = m.input, m.preprocess
    rows = [
        ("bundle", str(b.root)),
        ("model", f"{m.model.family} {m.model.variant} ({len(m.class_names)} classes: {names})"),
        ("source", f"{m.source.name} sha256:{m.source.sha256[:12]}"),
        (
            "input",
            f"{inp.name} {inp.layout} {inp.dtype} batch={inp.batch or 'dynamic'} {inp.height}x{inp.width}",
        ),
        ("preprocess", f"{pre.resize} pad={pre.pad_value} {pre.color} x{pre.scale:g}"),
        ("outputs", "; ".join(f"{o.name} {o.role} {list(o.shape)}" for o in m.outputs)),
        ("decoder", f"{m.decoder.type} conf={m.decoder.conf_threshold:g} iou={m.decoder.iou_threshold:g}"),
        *([("head", HEAD_TEXT[m.model.head])] if m.model.head else []),
        (
            "models",
            "; ".join(f"{a.backend} {a.precision} {a.path} ({a.size / 1e6:.1f} MB)" for a in m.artifacts),
        ),
        ("target", m.target.target if m.target is not None else "-"),
        ("created", f"{m.created} by edgekit {m.edgekit_version}"),
    ]
    if verify:
        count = sum(1 + len(a.files) for a in m.artifacts)
        rows.append(("sha256", f"all {count} model files match the manifest"))
    else:
        rows.append(("sha256", "not checked (--no-verify)"))
    for key, value in rows:
        click.echo(f"{key:<11} {value}")
