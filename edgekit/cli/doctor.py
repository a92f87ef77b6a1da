"""``edgekit doctor``: the host, its accelerators and which backends import, with versions."""

from __future__ import annotations

import importlib
import json
from typing import Any, Dict, List, Optional, Tuple

import click

from edgekit import DISTRIBUTION, __version__, backends
from edgekit._optional import EXTRAS
from edgekit.errors import pip_install

# (label, import name, the extra that installs it) of what is not a backend (``edgekit.backends``)
OTHERS_BEFORE: List[Tuple[str, str, str]] = [("numpy", "numpy", "core")]
OTHERS_AFTER: List[Tuple[str, str, str]] = [
    ("opencv (cv2)", "cv2", "cv (or the system's)"),
    ("torch", "torch", EXTRAS["torch"]),
    ("onnx", "onnx", EXTRAS["onnx"]),
    ("onnxslim", "onnxslim", EXTRAS["onnxslim"]),
]


def modules_to_probe() -> List[Tuple[str, str, str]]:
    """(label, import name, extra) rows: numpy, every backend's modules, then the tools."""
    rows = list(OTHERS_BEFORE)
    for backend in backends.ordered():
        for m in backend.all_modules():
            rows.append((m.distribution, m.name, f"{m.extra} ({m.note})" if m.note else m.extra))
    return rows + OTHERS_AFTER


def _detail(name: str, module: Any) -> str:
    """Backend-specific facts (each backend's ``probe``), GStreamer, CUDA."""
    try:
        probe = next((b.probe for b in backends.ordered() if b.probe and b.module.name == name), None)
        if probe is not None:
            return probe(module)
        if name == "cv2":
            info = module.getBuildInformation()
            gst = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if "GStreamer" in ln), "?")
            return f"GStreamer: {gst.split()[0] if gst else '?'}"
        if name == "torch":
            return "CUDA available" if module.cuda.is_available() else "CPU only"
    except Exception as exc:  # noqa: BLE001 - a probe that fails is reported, not fatal
        return f"probe failed: {type(exc).__name__}"
    return ""


def probe_backends() -> List[Dict[str, Optional[str]]]:
    rows = []
    for label, name, extra in modules_to_probe():
        row: Dict[str, Optional[str]] = {"name": label, "module": name, "extra": extra}
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - ImportError or a broken binary install
            row.update(version=None, status="missing" if isinstance(exc, ImportError) else f"broken: {exc}")
            rows.append(row)
            continue
        version = getattr(module, "__version__", None) or getattr(
            getattr(module, "version", None), "__version__", None
        )
        if version is None and callable(getattr(module, "get_version", None)):  # OpenVINO's
            version = module.get_version()
        row.update(version=str(version or "unknown"), status="ok", detail=_detail(name, module))
        rows.append(row)
    return rows


def name_clash() -> Optional[str]:
    """A warning when the unrelated ``edgekit`` distribution is installed beside this one.

    Both install a top-level ``edgekit`` package; whichever was installed last wins the files.
    """
    from importlib import metadata

    try:
        other = metadata.distribution("edgekit")
    except metadata.PackageNotFoundError:
        return None
    return (
        f"a distribution named 'edgekit' ({other.version}) is installed here: the PyPI project of "
        f"that name is unrelated (or it is this one from before its rename to {DISTRIBUTION}) and "
        f"writes the same 'edgekit' package: pip uninstall edgekit, then "
        f"pip install --force-reinstall {DISTRIBUTION}"
    )


def host_rows() -> List[Tuple[str, str]]:
    from edgekit.devices.host import detect_host

    host = detect_host()
    rows = list(host.to_rows())
    rows.append(("edgekit", f"{__version__} ({DISTRIBUTION})"))
    rows.append(("matching target", host.matching_profile() or "none"))
    return rows


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def doctor(as_json: bool) -> None:
    """Report the host (OS, Python, CPU, Jetson / Raspberry Pi) and the importable backends."""
    host = host_rows()
    backends = probe_backends()
    clash = name_clash()
    if as_json:
        click.echo(json.dumps({"host": dict(host), "backends": backends, "name_clash": clash}, indent=2))
        return
    if clash:
        click.echo(f"warning: {clash}", err=True)
    width = max(len(k) for k, _ in host)
    click.echo("Host")
    for key, value in host:
        click.echo(f"  {key:<{width}}  {value}")
    click.echo("Backends")
    for row in backends:
        if row["status"] == "ok":
            state = f"{row['version']:<12} {row.get('detail') or ''}".rstrip()
        else:
            state = f"{row['status']:<12} {pip_install(str(row['extra']))}"
            if row["extra"] in ("core",) or "(" in str(row["extra"]):
                state = f"{row['status']:<12} ({row['extra']})"
        click.echo(f"  {row['name']:<15} {state}")
