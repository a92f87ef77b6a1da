"""Detect the machine edgekit runs on (for ``edgekit doctor``, the ``cpu`` alias and
conversion on the device itself).

Everything is read below ``root`` so tests can build a fake filesystem:
``proc/cpuinfo``, ``proc/meminfo``, ``etc/nv_tegra_release``, ``proc/device-tree/model``
(or ``sys/firmware/devicetree/base/model``), ``proc/device-tree/compatible``,
``etc/os-release`` and ``var/lib/dpkg/status`` (TensorRT and L4T package versions).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from edgekit.devices.jetpack import jetpack_for_l4t

# ARM "CPU part" codes (implementer 0x41 Arm, 0x4e NVIDIA) seen on targets and common boards.
_ARM_PARTS: Dict[Tuple[str, str], str] = {
    ("0x41", "0xd03"): "Cortex-A53",
    ("0x41", "0xd05"): "Cortex-A55",
    ("0x41", "0xd07"): "Cortex-A57",
    ("0x41", "0xd08"): "Cortex-A72",
    ("0x41", "0xd0b"): "Cortex-A76",
    ("0x41", "0xd0c"): "Neoverse-N1",
    ("0x41", "0xd40"): "Neoverse-V1",
    ("0x41", "0xd42"): "Cortex-A78AE",
    ("0x41", "0xd4f"): "Neoverse-V2",
    ("0x4e", "0x004"): "NVIDIA Carmel",
}
_X86_SHOWN = (
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
)
_ARM_SHOWN = ("asimd", "fphp", "asimdhp", "asimddp", "i8mm", "bf16", "sve")
# (substring of the lower-cased device-tree model, profile); first match wins
_JETSON_MODELS: Tuple[Tuple[str, str], ...] = (
    ("orin nano", "jetson-orin-nano"),
    ("orin nx", "jetson-orin-nx"),
    ("agx orin", "jetson-agx-orin"),
    ("xavier nx", "jetson-xavier-nx"),
    ("agx xavier", "jetson-agx-xavier"),
    ("thor", "jetson-thor"),
    ("jetson nano", "jetson-nano"),
)
_JETSON_SOCS: Tuple[Tuple[str, str], ...] = (("tegra210", "jetson-nano"), ("tegra264", "jetson-thor"))
#: CPU flags that give OpenVINO's CPU plugin native bf16 arithmetic (AVX512_BF16 or AMX)
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def native_bf16(cpu_flags: Sequence[str]) -> bool:
    """CPU flags with native bf16 arithmetic (AVX512_BF16 or AMX): OpenVINO's bf16 hint pays off."""
    return any(f in cpu_flags for f in BF16_FLAGS)


_TENSORRT_PACKAGES = ("tensorrt", "libnvinfer10", "libnvinfer8", "libnvinfer-bin")


@dataclass(frozen=True)
class HostInfo:
    """What edgekit learned about a machine."""

    arch: Optional[str]  # "x86_64" | "aarch64" | ...
    cpu_model: Optional[str]
    cpu_cores: int
    cpu_flags: Tuple[str, ...]  # x86 "flags" or ARM "Features" of /proc/cpuinfo, sorted
    memory_gb: Optional[float]
    device_model: Optional[str]  # device-tree model (Jetson, Raspberry Pi)
    soc: Tuple[str, ...]  # device-tree "compatible" entries
    l4t: Optional[str]  # Jetson Linux version, "36.4.0"
    jetpack: Optional[str]  # exact JetPack version when known, else edgekit's release line
    jetpack_line: Optional[str]  # edgekit release line ("6.1"), None when not targeted
    os_name: Optional[str]
    python: str
    tensorrt: Optional[str]

    # ---- classification ------------------------------------------------------------

    @property
    def is_jetson(self) -> bool:
        return self.l4t is not None or any(s.startswith("nvidia,tegra") for s in self.soc)

    @property
    def is_raspberry_pi(self) -> bool:
        return (self.device_model or "").startswith("Raspberry Pi")

    def _raspberry_pi_profile(self) -> Optional[str]:
        model = self.device_model or ""
        if not self.is_raspberry_pi:
            return None
        if re.search(r"Raspberry Pi (5|500|Compute Module 5)\b", model):
            return "rpi5"
        if re.search(r"Raspberry Pi (4|400|Compute Module 4)\b", model):
            return "rpi4"
        return None

    def _jetson_profile(self) -> Optional[str]:
        if not self.is_jetson:
            return None
        model = (self.device_model or "").lower().replace("-", " ")
        for needle, name in _JETSON_MODELS:
            if needle in model:
                return name
        if model.strip() == "jetson agx":  # the AGX Xavier developer kit's device tree says only this
            return "jetson-agx-xavier"
        for soc, name in _JETSON_SOCS:
            if any(soc in entry for entry in self.soc):
                return name
        return None

    @property
    def has_bf16(self) -> bool:
        """Native bf16 arithmetic (``native_bf16``)."""
        return native_bf16(self.cpu_flags)

    def cpu_profile(self) -> Optional[str]:
        """The profile of this machine's CPU (the ``cpu`` alias): Jetson CPUs are ``arm64``."""
        pi = self._raspberry_pi_profile()
        if pi:
            return pi
        if self.arch == "aarch64":
            return "arm64"
        if self.arch == "x86_64":
            flags = set(self.cpu_flags)
            if "amx_tile" in flags:
                return "x86-amx"
            if flags & {"avx512_vnni", "avx_vnni"}:
                return "x86-vnni"
            if "avx2" in flags:
                return "x86-avx2"
        return None

    def matching_profile(self) -> Optional[str]:
        """The canonical target name of this machine (its GPU profile on a Jetson)."""
        return self._jetson_profile() or self.cpu_profile()

    def describe_cpu(self) -> str:
        if self.arch == "x86_64" and "avx2" not in self.cpu_flags:
            return f"{self.cpu_model or 'x86_64'} without AVX2"
        return f"{self.cpu_model or 'unknown CPU'} [{self.arch or 'unknown architecture'}]"

    def to_rows(self) -> List[Tuple[str, str]]:
        """``(label, value)`` rows for ``edgekit doctor``."""
        shown = _X86_SHOWN if self.arch == "x86_64" else _ARM_SHOWN
        features = [f for f in shown if f in self.cpu_flags]
        rows = [
            ("machine", self.arch or "unknown"),
            ("cpu", f"{self.cpu_model or 'unknown'} ({self.cpu_cores} cores)"),
            ("cpu features", " ".join(features) or "none of interest"),
            ("memory", f"{self.memory_gb:.1f} GB" if self.memory_gb else "unknown"),
        ]
        if self.device_model:
            rows.append(("device", self.device_model))
        if self.l4t:
            rows.append(("jetson linux", self.l4t))
            rows.append(("jetpack", self.jetpack or "unknown"))
        if self.tensorrt:
            rows.append(("tensorrt", self.tensorrt))
        rows += [("os", self.os_name or "unknown"), ("python", self.python)]
        return rows


# ---- readers ------------------------------------------------------------------------------


def _read(root: str, *relative: str) -> Optional[str]:
    """Text of the first existing ``root/relative`` (NULs removed), or None."""
    for rel in relative:
        path = os.path.join(root, rel)
        try:
            with open(path, "rb") as fh:
                return fh.read().decode("utf-8", "replace").replace("\x00", "\n").strip()
        except OSError:
            continue
    return None


def _cpuinfo(text: str) -> Tuple[Dict[str, str], int]:
    fields: Dict[str, str] = {}
    cores = 0
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip()
        if key == "processor":
            cores += 1
        fields.setdefault(key, value.strip())
    return fields, cores


def _dpkg_versions(text: Optional[str]) -> Dict[str, str]:
    versions: Dict[str, str] = {}
    for block in (text or "").split("\n\n"):
        fields = dict(
            (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in block.splitlines()) if k
        )
        if "Package" in fields and "Version" in fields and "installed" in fields.get("Status", "installed"):
            versions[fields["Package"]] = fields["Version"]
    return versions


def _l4t(root: str, dpkg: Dict[str, str]) -> Optional[str]:
    release = _read(root, "etc/nv_tegra_release")
    if release:
        match = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([0-9.]+)", release)
        if match:
            revision = match.group(2).strip(".")
            return f"{match.group(1)}.{revision}" if "." in revision else f"{match.group(1)}.{revision}.0"
    core = dpkg.get("nvidia-l4t-core")
    return core.split("-")[0] if core else None


def _tensorrt(dpkg: Dict[str, str], probe_modules: bool) -> Optional[str]:
    if probe_modules and importlib.util.find_spec("tensorrt") is not None:
        try:
            return str(importlib.import_module("tensorrt").__version__)
        except Exception:  # noqa: BLE001 - a broken install must not break doctor
            pass
    for package in _TENSORRT_PACKAGES:
        if package in dpkg:
            return dpkg[package].split("-")[0]
    return None


def _os_name(root: str) -> Optional[str]:
    text = _read(root, "etc/os-release")
    for line in (text or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return None


def detect_host(root: str = "/", probe_modules: Optional[bool] = None) -> HostInfo:
    """Read the machine below ``root``. ``probe_modules`` (default: only for ``/``) imports
    ``tensorrt`` to report its version."""
    live = os.path.abspath(root) == os.path.abspath(os.sep)
    probe = live if probe_modules is None else probe_modules
    fields, cores = _cpuinfo(_read(root, "proc/cpuinfo") or "")
    flags = tuple(sorted(set((fields.get("flags") or fields.get("Features") or "").split())))
    if "flags" in fields or "vendor_id" in fields:
        arch: Optional[str] = "x86_64" if "lm" in flags or not flags else "i686"
    elif "Features" in fields or "CPU implementer" in fields:
        arch = "aarch64" if "asimd" in flags or fields.get("CPU architecture") == "8" else "armv7l"
    else:
        arch = platform.machine() if live else None
    part = _ARM_PARTS.get((fields.get("CPU implementer", ""), fields.get("CPU part", "")))
    cpu_model = fields.get("model name") or (f"{part} x{cores}" if part else None)

    model = _read(root, "proc/device-tree/model", "sys/firmware/devicetree/base/model")
    if not model and fields.get("Model", "").startswith("Raspberry Pi"):
        model = fields["Model"]
    soc = tuple((_read(root, "proc/device-tree/compatible") or "").split())
    dpkg = _dpkg_versions(_read(root, "var/lib/dpkg/status"))
    l4t = _l4t(root, dpkg)
    exact, line = jetpack_for_l4t(l4t) if l4t else (None, None)

    meminfo = _read(root, "proc/meminfo") or ""
    match = re.search(r"MemTotal:\s*(\d+)\s*kB", meminfo)
    memory = round(int(match.group(1)) / 1024**2, 1) if match else None
    return HostInfo(
        arch=arch,
        cpu_model=cpu_model,
        cpu_cores=cores or ((os.cpu_count() or 0) if live else 0),
        cpu_flags=flags,
        memory_gb=memory,
        device_model=model or None,
        soc=soc,
        l4t=l4t,
        jetpack=exact or line,
        jetpack_line=line,
        os_name=_os_name(root),
        python=platform.python_version(),
        tensorrt=_tensorrt(dpkg, probe),
    )
