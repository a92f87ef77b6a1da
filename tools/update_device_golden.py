"""Regenerate tests/devices/golden_plans.json from the current device catalogue.

The committed file is the specification: review every change to it by eye before
committing. Tests compare ``resolve_plan`` against the committed file, never against
a freshly generated one.

    .venv/bin/python tools/update_device_golden.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, List

from edgekit.devices import profiles, resolve_plan

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "devices" / "golden_plans.json"


def cases() -> List[Dict[str, Any]]:
    """Default flags and the main flag combinations for every profile, plus the aliases."""
    out: List[Dict[str, Any]] = []
    for profile in profiles():
        name = profile.name
        out.append({"target": name})
        for precision in profile.precisions:
            if precision != profile.default_precision:
                out.append({"target": name, "precision": precision})
        for release in profile.jetpacks:
            if release.version != profile.default_jetpack:
                out.append({"target": name, "jetpack": release.version})
        if profile.dla_cores:
            out.append({"target": name, "dla_core": 0})
            out.append({"target": name, "dla_core": profile.dla_cores - 1, "precision": "int8"})
        if not profile.is_jetson:
            for backend in profile.backend_names:
                out.append({"target": name, "backend": backend})
        out.append({"target": name, "nms": "graph"})
        out.append({"target": name, "dynamic": True})
    out += [
        {"target": "jetson"},
        {"target": "rpi"},
        {"target": "jetson-orin-nano", "precision": "int8", "jetpack": "5.1", "imgsz": [480, 640]},
        {"target": "rpi5", "precision": "int8", "dfl": "host"},
        {"target": "x86-avx2", "precision": "int8", "opset": 13},
    ]
    return out


def build() -> List[Dict[str, Any]]:
    entries = []
    for case in cases():
        args = dict(case)
        target = args.pop("target")
        entries.append({"target": target, "args": args, "plan": resolve_plan(target, **args).to_dict()})
    return entries


def main() -> int:
    GOLDEN.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {GOLDEN} ({len(cases())} plans)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
