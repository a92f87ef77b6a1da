"""JetPack release lines edgekit targets, and the Jetson Linux (L4T) -> JetPack map.

Versions checked (2026) against:
- JetPack 4.6.x: NVIDIA "JetPack SDK 4.6.1" page (TensorRT 8.2, L4T 32.7.1); 4.6.1-4.6.6 all
  ship TensorRT 8.2.1 / CUDA 10.2 on Ubuntu 18.04 (Python 3.6). JetPack 4.6 itself (L4T 32.6.1)
  shipped TensorRT 8.0.1; edgekit's "4.6" line means 4.6.1 and later.
- JetPack 5.1.x (L4T 35.2.1-35.6.x): TensorRT 8.5.2, CUDA 11.4, Ubuntu 20.04 (Python 3.8).
- JetPack 6.0 (L4T 36.3): TensorRT 8.6.2, CUDA 12.2, Ubuntu 22.04 (Python 3.10).
- JetPack 6.1 (L4T 36.4) and 6.2 (L4T 36.4.3): TensorRT 10.3, CUDA 12.6, cuDNN 9.3 (NVIDIA JetPack
  release notes as quoted by the Torch-TensorRT "Torch-TensorRT in JetPack" page; 6.2 is 6.1 plus
  the Orin Nano/NX "Super" modes).
- JetPack 7.0 (L4T 38.2) / 7.1 (L4T 38.4), Jetson Thor: Ubuntu 24.04 (Python 3.12), CUDA 13.0,
  TensorRT 10.13 (NVIDIA JetPack 7.0/7.1 download pages; device reports in roboflow/inference#1935).
- JetPack 7.2 (L4T 39.2, June 2026, Orin and Thor): CUDA 13.2, TensorRT 10.16 (device reports in
  roboflow/inference#2478 and a JetPack 7.2 Orin Nano benchmark); not yet in NVIDIA notes we read.
- DLA: TensorRT documentation ("Working with DLA", 11.x): "TensorRT 10.7 was the last 10.x release
  that supported DLA" -> no DLA engines with the TensorRT 10.13/10.16 of JetPack 7.
- Max ONNX opset of the TensorRT ONNX parser: onnx/onnx-tensorrt docs/operators.md on its release
  branches: 8.2 -> 13, 8.5 -> 17, 8.6 -> 17, 10.0/10.1 -> 20 (10.3 assumed 20), 10.15 -> 24
  (10.13/10.16 taken as 24 from the TensorRT 10.13 changelog summary).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from edgekit.devices.profiles import JetPackRelease

_NV = "NVIDIA JetPack release notes"

JP46 = JetPackRelease("4.6", "32.7", "8.2", "10.2", "3.6", "18.04", 13, True, f"{_NV} (4.6.1-4.6.6)")
JP51 = JetPackRelease("5.1", "35", "8.5", "11.4", "3.8", "20.04", 17, True, f"{_NV} (5.1-5.1.5)")
JP60 = JetPackRelease("6.0", "36.3", "8.6", "12.2", "3.10", "22.04", 17, True, _NV)
JP61 = JetPackRelease("6.1", "36.4", "10.3", "12.6", "3.10", "22.04", 20, True, _NV)
JP62 = JetPackRelease("6.2", "36.4.3", "10.3", "12.6", "3.10", "22.04", 20, True, _NV)
_CUDA13_THOR = "https://developer.nvidia.com/blog/whats-new-in-cuda-toolkit-13-0-for-jetson-thor-unified-arm-ecosystem-and-more"
_JP71_REPORT = "https://github.com/roboflow/inference/issues/1935"
_JP72_REPORT = "https://github.com/roboflow/inference/issues/2478"
JP70 = JetPackRelease(
    "7.0", "38.2", "10.13", "13.0", "3.12", "24.04", 24, False, f"{_CUDA13_THOR}; {_JP71_REPORT}"
)
JP71 = JetPackRelease(
    "7.1", "38.4", "10.13", "13.0", "3.12", "24.04", 24, False, f"{_CUDA13_THOR}; {_JP71_REPORT}"
)
JP72 = JetPackRelease(
    "7.2",
    "39.2",
    "10.16",
    "13.2",
    "3.12",
    "24.04",
    24,
    False,
    f"device reports (not NVIDIA notes): {_JP72_REPORT}",
)

#: TensorRT from pip beside JetPack's own (version, boards with DLA, source). TensorRT 11 has no
#: FP16/INT8 builder flags: edgekit builds it strongly typed from the bundle's FP16 or Q/DQ ONNX.
PIP_TENSORRT: Dict[str, Tuple[str, Tuple[str, ...], str]] = {
    "7.2": ("11.4", ("jetson-agx-orin",), "https://pypi.org/project/tensorrt-cu12-bindings/11.4.0.106/"),
}

#: cuda-python that installs on each line's Python and matches its CUDA (an unpinned install picks
#: 12.3 on Python 3.8 and 13.x on 3.10, newer than the boards' drivers). JetPack 5: no 11.4 wheel
#: exists; 11.8 is the CUDA NVIDIA lets JetPack 5 upgrade to. tests/devices/test_install_pins.py
#: resolves each with pip for linux aarch64.
CUDA_PYTHON: Dict[str, str] = {
    "5.1": "cuda-python>=11.8,<12",
    "6.0": "cuda-python>=12.2,<12.3",
    "6.1": "cuda-python>=12.6,<12.7",
    "6.2": "cuda-python>=12.6,<12.7",
    "7.0": "cuda-python>=13.0,<13.1",
    "7.1": "cuda-python>=13.0,<13.1",
    "7.2": "cuda-python>=13.2,<13.3",
}


def install_lines(release: JetPackRelease) -> List[str]:
    """The shell lines that set up the edgekit runtime on a board with ``release``."""
    pin = CUDA_PYTHON.get(release.version)
    if pin is None:
        return [
            f"# JetPack {release.version} ships Python {release.python}: no edgekit runtime; "
            "build the engine with the bundle's trtexec line"
        ]
    return [
        "python3 -m venv --system-site-packages .venv  # TensorRT and OpenCV come from JetPack",
        ". .venv/bin/activate",
        f'pip install "edgekit-detect" "numpy<2" "{pin}"  # JetPack\'s TensorRT and cv2 take numpy 1.x',
    ]


# Exact L4T -> JetPack versions (jetson-stats / jetson-containers tables, NVIDIA archive).
_L4T_EXACT: Dict[str, str] = {
    "32.6.1": "4.6",
    "32.7.1": "4.6.1",
    "32.7.2": "4.6.2",
    "32.7.3": "4.6.3",
    "32.7.4": "4.6.4",
    "32.7.5": "4.6.5",
    "32.7.6": "4.6.6",
    "35.1.0": "5.0.2",
    "35.2.1": "5.1",
    "35.3.1": "5.1.1",
    "35.4.1": "5.1.2",
    "35.5.0": "5.1.3",
    "35.6.0": "5.1.4",
    "35.6.2": "5.1.5",
    "36.2.0": "6.0 DP",
    "36.3.0": "6.0",
    "36.4.0": "6.1",
    "36.4.2": "6.1.1",
    "36.4.3": "6.2",
    "36.4.4": "6.2.1",
    "38.2.0": "7.0",
    "38.2.1": "7.0",
    "38.2.2": "7.0",
    "38.4.0": "7.1",
    "39.2.0": "7.2",
}


def _version_tuple(text: str) -> Tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    while len(parts) < 3:
        parts.append(0)
    return tuple(parts)


def jetpack_for_l4t(l4t: str) -> Tuple[Optional[str], Optional[str]]:
    """``(exact JetPack version or None, edgekit release line or None)`` for an L4T version."""
    key = ".".join(str(p) for p in _version_tuple(l4t)[:3])
    exact = _L4T_EXACT.get(key)
    major, minor, patch = _version_tuple(l4t)[:3]
    line: Optional[str] = None
    if major == 32 and minor >= 6:
        line = "4.6"
    elif major == 35 and minor >= 2:
        line = "5.1"
    elif major == 36 and minor in (2, 3):
        line = "6.0"
    elif major == 36 and minor == 4 and patch < 3:
        line = "6.1"
    elif (major == 36 and minor == 4) or (major == 36 and minor >= 5):
        line = "6.2"
    elif major == 38 and minor < 4:
        line = "7.0"
    elif major == 38:
        line = "7.1"
    elif major == 39:
        line = "7.2"
    return exact, line
