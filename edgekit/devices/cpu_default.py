"""What ``--target cpu`` picks by itself on this machine: bf16 where the CPU computes it natively.

``resolve_plan`` asks ``host_bf16``; the converter falls back to f32 when the default bf16 fails
its check (``edgekit.devices.plan.without_bf16``), never when the user asked for bf16.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from edgekit.devices.catalog import CPU_ALIAS
from edgekit.devices.conversion_plan import ConversionPlan
from edgekit.devices.profiles import DeviceProfile

if TYPE_CHECKING:
    from edgekit.devices.host import HostInfo

BF16_DEFAULT_NOTE = (
    "this CPU has native bf16 (AVX512_BF16 / AMX): OpenVINO computes in bf16 by default, checked "
    "against PyTorch with the BF16 bounds (f32 where that check fails); onnxruntime stays FP32; "
    "--precision fp32 for f32 everywhere"
)


def host_bf16(
    profile: DeviceProfile,
    alias: Optional[str],
    precision: Optional[str],
    backend: Optional[str],
    host: Optional[HostInfo],
) -> bool:
    """``cpu`` with no ``--precision`` on a host with native bf16, where the backend runs it: bf16
    is the fastest float precision there (OpenVINO 1.3-1.6x its f32 on the shapes fixtures,
    docs/measurements/2026-12-07-cpu-speed.md) and keeps mAP50-95 within 0.1 points."""
    if alias != CPU_ALIAS or precision is not None or host is None or not host.has_bf16:
        return False
    if "bf16" not in profile.precisions:
        return False
    if backend is None:
        return True
    support = profile.backend(str(backend).strip().lower())
    return support is not None and "bf16" in support.precisions


def is_default_bf16(plan: ConversionPlan) -> bool:
    """The plan's bf16 was ``cpu``'s default, not asked for (``host_bf16``)."""
    return plan.precision == "bf16" and BF16_DEFAULT_NOTE in plan.notes
