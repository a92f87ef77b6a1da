"""Host detection from fake filesystem roots."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import pytest

from edgekit.devices import detect_host, resolve_plan
from edgekit.devices.jetpack import jetpack_for_l4t

ORIN_FEATURES = (
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
)


def make_root(tmp_path: Path, files: Dict[str, Union[str, bytes]]) -> str:
    for rel, content in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return str(tmp_path)


def arm_cpuinfo(cores: int, part: str, features: str = ORIN_FEATURES, extra: str = "") -> str:
    block = (
        "processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: {f}\nCPU implementer\t: 0x41\n"
        "CPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: {p}\nCPU revision\t: 1\n\n"
    )
    return "".join(block.format(i=i, f=features, p=part) for i in range(cores)) + extra


def x86_cpuinfo(flags: str, cores: int = 2) -> str:
    block = "processor\t: {i}\nvendor_id\t: GenuineIntel\nmodel name\t: Test CPU\nflags\t\t: {f}\n\n"
    return "".join(block.format(i=i, f=flags) for i in range(cores))


DPKG = """Package: nvidia-l4t-core
Status: install ok installed
Version: 36.4.0-20240912212859

Package: tensorrt
Status: install ok installed
Version: 10.3.0.30-1+cuda12.5
"""


def test_jetson_orin_nano(tmp_path: Path) -> None:
    root = make_root(
        tmp_path,
        {
            "etc/nv_tegra_release": "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, "
            "EABI: aarch64, DATE: Fri Sep 13 04:36:44 UTC 2024\n",
            "proc/device-tree/model": b"NVIDIA Jetson Orin Nano Engineering Reference Developer Kit\x00",
            "proc/device-tree/compatible": b"nvidia,p3768-0000+p3767-0005\x00nvidia,tegra234\x00",
            "proc/cpuinfo": arm_cpuinfo(6, "0xd42"),
            "proc/meminfo": "MemTotal:        7802468 kB\nMemFree:          123 kB\n",
            "etc/os-release": 'NAME="Ubuntu"\nPRETTY_NAME="Ubuntu 22.04.5 LTS"\n',
            "var/lib/dpkg/status": DPKG,
        },
    )
    host = detect_host(root)
    assert host.arch == "aarch64" and host.is_jetson and not host.is_raspberry_pi
    assert (host.l4t, host.jetpack, host.jetpack_line) == ("36.4.0", "6.1", "6.1")
    assert host.tensorrt == "10.3.0.30"
    assert host.cpu_model == "Cortex-A78AE x6" and host.cpu_cores == 6
    assert host.memory_gb == pytest.approx(7.4, abs=0.05)
    assert host.matching_profile() == "jetson-orin-nano"
    assert host.cpu_profile() == "arm64"  # 'cpu' on a Jetson is its ARM CPU, not the GPU
    assert resolve_plan("cpu", host=host).target == "arm64"
    rows = dict(host.to_rows())
    assert rows["jetpack"] == "6.1" and rows["tensorrt"] == "10.3.0.30" and rows["os"] == "Ubuntu 22.04.5 LTS"
    assert rows["python"] == platform.python_version() and "asimddp" in rows["cpu features"]


def test_nv_tegra_release_without_hash_prefix(tmp_path: Path) -> None:
    root = make_root(
        tmp_path,
        {"etc/nv_tegra_release": "R36 (release), REVISION: 4.0", "proc/cpuinfo": arm_cpuinfo(6, "0xd42")},
    )
    assert detect_host(root).l4t == "36.4.0"


def test_jetson_from_sysfs_model_and_dpkg_only(tmp_path: Path) -> None:
    root = make_root(
        tmp_path,
        {
            "sys/firmware/devicetree/base/model": b"Jetson-AGX\x00",
            "proc/cpuinfo": arm_cpuinfo(8, "0x004").replace("0x41", "0x4e"),
            "var/lib/dpkg/status": "Package: nvidia-l4t-core\nStatus: install ok installed\n"
            "Version: 35.4.1-20230801124926\n\nPackage: libnvinfer8\nStatus: install ok installed\n"
            "Version: 8.5.2-1+cuda11.4\n",
        },
    )
    host = detect_host(root)
    assert (host.l4t, host.jetpack, host.jetpack_line) == ("35.4.1", "5.1.2", "5.1")
    assert host.matching_profile() == "jetson-agx-xavier"
    assert host.tensorrt == "8.5.2" and host.cpu_model == "NVIDIA Carmel x8"


def test_jetson_nano(tmp_path: Path) -> None:
    root = make_root(
        tmp_path,
        {
            "etc/nv_tegra_release": "# R32 (release), REVISION: 7.4, GCID: 33514132, BOARD: t210ref\n",
            "proc/device-tree/model": b"NVIDIA Jetson Nano Developer Kit\x00",
            "proc/cpuinfo": arm_cpuinfo(4, "0xd07"),
        },
    )
    host = detect_host(root)
    assert (host.jetpack, host.jetpack_line) == ("4.6.4", "4.6")
    assert host.matching_profile() == "jetson-nano"


def test_jetson_soc_fallback(tmp_path: Path) -> None:
    root = make_root(
        tmp_path,
        {
            "etc/nv_tegra_release": "# R38 (release), REVISION: 2.0\n",
            "proc/device-tree/compatible": b"nvidia,tegra264\x00",
            "proc/cpuinfo": arm_cpuinfo(14, "0xd83"),
        },
    )
    host = detect_host(root)
    assert host.matching_profile() == "jetson-thor" and host.jetpack == "7.0"


def test_raspberry_pi_5(tmp_path: Path) -> None:
    root = make_root(
        tmp_path,
        {
            "proc/device-tree/model": b"Raspberry Pi 5 Model B Rev 1.0\x00",
            "proc/cpuinfo": arm_cpuinfo(4, "0xd0b", extra="Revision\t: d04170\nModel\t\t: Raspberry Pi 5\n"),
            "proc/meminfo": "MemTotal:        8245972 kB\n",
            "etc/os-release": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
        },
    )
    host = detect_host(root)
    assert host.is_raspberry_pi and not host.is_jetson and host.l4t is None
    assert host.cpu_model == "Cortex-A76 x4"
    assert host.matching_profile() == host.cpu_profile() == "rpi5"
    assert resolve_plan("cpu", host=host).target == "rpi5"
    rows = dict(host.to_rows())
    assert rows["device"] == "Raspberry Pi 5 Model B Rev 1.0" and "jetpack" not in rows


def test_raspberry_pi_4_model_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = arm_cpuinfo(
        4, "0xd08", "fp asimd evtstrm crc32 cpuid", "Model\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
    )
    host = detect_host(make_root(tmp_path, {"proc/cpuinfo": cpuinfo}))
    assert host.device_model == "Raspberry Pi 4 Model B Rev 1.4"
    assert host.matching_profile() == "rpi4"


X86_BASE = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov lm sse sse2 ssse3 sse4_1 sse4_2 avx"


@pytest.mark.parametrize(
    "extra, expected",
    [
        ("avx2 fma f16c", "x86-avx2"),
        ("avx2 fma avx512f avx512_vnni", "x86-vnni"),
        ("avx2 fma avx_vnni", "x86-vnni"),
        ("avx2 fma avx512f avx512_vnni amx_tile amx_int8 amx_bf16", "x86-amx"),
        ("", None),
    ],
)
def test_x86_isa_levels(tmp_path: Path, extra: str, expected: Optional[str]) -> None:
    host = detect_host(make_root(tmp_path, {"proc/cpuinfo": x86_cpuinfo(f"{X86_BASE} {extra}")}))
    assert host.arch == "x86_64" and host.cpu_cores == 2 and host.cpu_model == "Test CPU"
    assert host.matching_profile() == host.cpu_profile() == expected
    if expected:
        assert resolve_plan("cpu", host=host).target == expected


def test_generic_arm64(tmp_path: Path) -> None:
    host = detect_host(make_root(tmp_path, {"proc/cpuinfo": arm_cpuinfo(16, "0xd0c", "fp asimd")}))
    assert host.arch == "aarch64" and host.cpu_model == "Neoverse-N1 x16"
    assert host.matching_profile() == "arm64" and not host.is_jetson and not host.is_raspberry_pi


def test_empty_root_knows_nothing(tmp_path: Path) -> None:
    host = detect_host(str(tmp_path))
    assert host.arch is None and host.matching_profile() is None and host.memory_gb is None
    assert dict(host.to_rows())["machine"] == "unknown"


def test_this_machine() -> None:
    host = detect_host()
    assert host.arch == platform.machine() or host.arch in ("x86_64", "aarch64")
    assert host.python == platform.python_version() and host.cpu_cores >= 1


@pytest.mark.parametrize(
    "l4t, expected",
    [
        ("36.4.3", ("6.2", "6.2")),
        ("36.5.0", (None, "6.2")),
        ("36.3.0", ("6.0", "6.0")),
        ("32.7.1", ("4.6.1", "4.6")),
        ("35.1.0", ("5.0.2", None)),
        ("38.4.0", ("7.1", "7.1")),
        ("39.2.0", ("7.2", "7.2")),
        ("28.2.1", (None, None)),
    ],
)
def test_l4t_to_jetpack(l4t: str, expected: Tuple[Optional[str], Optional[str]]) -> None:
    assert jetpack_for_l4t(l4t) == expected
