"""The runtime's install lines per JetPack: cuda-python pinned to the board's CUDA, and installable.

An unpinned ``cuda-python`` resolves to 12.3 on Python 3.8 (JetPack 5, CUDA 11.4) and 13.x on
Python 3.10 (JetPack 6, CUDA 12.x): newer than the boards' drivers. The slow test asks pip which
version each pin installs for linux aarch64 and that board's Python.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.cli.devices import install_text
from edgekit.devices import profiles
from edgekit.devices.jetpack import CUDA_PYTHON, install_lines
from edgekit.errors import UnsupportedTargetError

RELEASES = {r.version: r for p in profiles() for r in p.jetpacks}
AARCH64 = [
    "manylinux2014_aarch64",
    "manylinux_2_28_aarch64",
    "manylinux_2_34_aarch64",
    "manylinux_2_39_aarch64",
]
NO_NETWORK = (
    "NewConnectionError",
    "Network is unreachable",
    "Temporary failure in name resolution",
    "ProxyError",
)


def _bounds(pin: str):
    low, high = re.match(r"cuda-python>=([\d.]+),<([\d.]+)$", pin).groups()
    return tuple(int(p) for p in low.split(".")), tuple(int(p) for p in high.split("."))


@pytest.mark.parametrize("version", sorted(RELEASES))
def test_every_runtime_line_pins_cuda_python_to_the_boards_cuda(version: str) -> None:
    release = RELEASES[version]
    if release.python_tuple < (3, 8):
        assert version not in CUDA_PYTHON and "trtexec" in install_lines(release)[0]
        return
    low, high = _bounds(CUDA_PYTHON[version])
    cuda = tuple(int(p) for p in release.cuda.split("."))
    assert low[0] == cuda[0] and low >= cuda[:2] and high <= (cuda[0] + 1,), (version, release.cuda)
    assert any(CUDA_PYTHON[version] in line for line in install_lines(release))


def test_the_tensorrt_extra_takes_the_oldest_cuda_of_each_boards_python() -> None:
    """Per Python (one per JetPack major), the extra pins the pin of the lowest CUDA: an older
    runtime runs on a newer driver, never the other way round."""
    tomllib = pytest.importorskip("tomllib")
    extra = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    pins = extra["project"]["optional-dependencies"]["tensorrt"]
    for python in sorted({r.python for r in RELEASES.values() if r.version in CUDA_PYTHON}):
        oldest = min(
            (r for r in RELEASES.values() if r.python == python and r.version in CUDA_PYTHON),
            key=lambda r: tuple(int(p) for p in r.cuda.split(".")),
        )
        marker = [p for p in pins if f"python_version=='{python}'" in p.replace(" ", "")]
        assert marker and marker[0].split(";")[0].strip() == CUDA_PYTHON[oldest.version], (python, pins)


def test_devices_install_prints_every_jetpack_of_the_board() -> None:
    text = install_text("jetson-orin-nano")
    for release in next(p for p in profiles() if p.name == "jetson-orin-nano").jetpacks:
        assert f"# JetPack {release.version} (" in text and CUDA_PYTHON[release.version] in text
    assert "with DLA" in install_text("jetson-agx-orin") and "no DLA" in install_text("jetson-orin-nano")
    with pytest.raises(UnsupportedTargetError, match="not a Jetson"):
        install_text("rpi5")


def test_devices_install_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "edgekit", "devices", "jetson-thor", "--install"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert '"cuda-python>=13.0,<13.1"' in out.stdout and "# JetPack 7.2 (" in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("version", sorted(CUDA_PYTHON))
def test_the_pin_installs_on_the_boards_python(version: str, tmp_path: Path) -> None:
    release = RELEASES[version]
    platforms = [a for p in AARCH64 for a in ("--platform", p)]
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--ignore-installed",
        "--target",
        str(tmp_path),
    ]
    cmd += ["--python-version", release.python, *platforms, "--only-binary=:all:", CUDA_PYTHON[version]]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if out.returncode != 0 and any(n in out.stderr for n in NO_NETWORK):
        pytest.skip("no network to the package index")
    assert out.returncode == 0, out.stderr[-2000:]
    found = re.search(r"Would install .*cuda-python-([\d.]+)", out.stdout)
    assert found, out.stdout
    installed = tuple(int(p) for p in found.group(1).split(".")[:2])
    low, high = _bounds(CUDA_PYTHON[version])
    assert low[:2] <= installed < high, (version, found.group(1))
