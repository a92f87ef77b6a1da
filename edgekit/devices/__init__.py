"""Target device profiles, ``--target`` resolution and host detection.

On-device code: standard library only (imports on Python >= 3.8 without numpy or torch).

    from edgekit.devices import resolve_plan
    plan = resolve_plan("jetson", precision="int8")
    print(plan.describe())
"""

from __future__ import annotations

from edgekit.devices.catalog import ALIASES, PROFILES, closest_names, profiles, resolve_target
from edgekit.devices.conversion_plan import PLAN_SCHEMA, ConversionPlan
from edgekit.devices.host import HostInfo, detect_host
from edgekit.devices.plan import resolve_plan
from edgekit.devices.profiles import BackendSupport, DeviceProfile, Int8Constraints, JetPackRelease

__all__ = [
    "ALIASES",
    "PLAN_SCHEMA",
    "PROFILES",
    "BackendSupport",
    "ConversionPlan",
    "DeviceProfile",
    "HostInfo",
    "Int8Constraints",
    "JetPackRelease",
    "closest_names",
    "detect_host",
    "profiles",
    "resolve_plan",
    "resolve_target",
]
