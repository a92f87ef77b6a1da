"""`edgekit devices` run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

from edgekit.devices import profiles, resolve_plan


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgekit", "devices", *args], capture_output=True, text=True, timeout=120
    )


def test_devices_table() -> None:
    proc = run()
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == [
        "NAME",
        "ALIASES",
        "ARCH",
        "BACKENDS",
        "DEFAULT",
        "INT8",
        "FP16",
        "DLA",
        "JETPACK",
    ]
    rows = {
        line.split()[0]: line.split() for line in lines[1:] if line.strip() and not line.startswith("aliases")
    }
    assert list(rows) == [p.name for p in profiles()]
    for profile in profiles():
        row = rows[profile.name]
        assert row[3] == ",".join(profile.backend_names) and row[4] == profile.default_precision
    assert rows["jetson-orin-nano"][1] == "jetson,orin-nano" and "6.2*" in rows["jetson-orin-nano"]
    assert rows["jetson-nano"][5] == "no" and rows["x86-avx2"][6] == "no"


def test_devices_json_lists_full_profiles() -> None:
    proc = run("--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data == [p.to_dict() for p in profiles()]


def test_devices_name_shows_profile_and_default_plan() -> None:
    proc = run("jetson")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("name") and "jetson-orin-nano" in proc.stdout
    assert "default plan:" in proc.stdout and "trtexec --onnx=model.onnx" in proc.stdout
    data = json.loads(run("rpi", "--json").stdout)
    assert data["profile"]["name"] == "rpi5" and data["plan"] == resolve_plan("rpi").to_dict()


def test_devices_unknown_name_is_one_line_error() -> None:
    proc = run("jetsn")
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: unknown target 'jetsn'; closest: jetson")
