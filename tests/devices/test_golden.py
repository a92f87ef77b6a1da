"""Resolution against the committed golden table (tests/devices/golden_plans.json).

The golden file is the specification of ``--target``: regenerate it with
``tools/update_device_golden.py`` only after reviewing the differences by eye.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

import pytest

from edgekit.devices import ConversionPlan, profiles, resolve_plan

GOLDEN = Path(__file__).with_name("golden_plans.json")
ENTRIES: List[Dict[str, Any]] = json.loads(GOLDEN.read_text())


def _key(target: str, args: Dict[str, Any]) -> Tuple[str, str]:
    return target, json.dumps(args, sort_keys=True)


SEEN: Set[Tuple[str, str]] = {_key(e["target"], e["args"]) for e in ENTRIES}


@pytest.mark.parametrize(
    "entry", ENTRIES, ids=[f"{e['target']}-{json.dumps(e['args'], sort_keys=True)}" for e in ENTRIES]
)
def test_plan_matches_golden(entry: Dict[str, Any]) -> None:
    plan = resolve_plan(entry["target"], **entry["args"])
    assert plan.to_dict() == entry["plan"]
    assert ConversionPlan.from_dict(entry["plan"]) == plan  # the manifest can read it back


def test_golden_covers_every_profile_and_the_main_flags() -> None:
    for profile in profiles():
        name = profile.name
        assert _key(name, {}) in SEEN, name
        assert _key(name, {"nms": "graph"}) in SEEN, name
        assert _key(name, {"dynamic": True}) in SEEN, name
        for precision in profile.precisions:
            if precision != profile.default_precision:
                assert _key(name, {"precision": precision}) in SEEN, (name, precision)
        for release in profile.jetpacks:
            if release.version != profile.default_jetpack:
                assert _key(name, {"jetpack": release.version}) in SEEN, (name, release.version)
        if profile.dla_cores:
            assert _key(name, {"dla_core": 0}) in SEEN, name
    assert _key("jetson", {}) in SEEN and _key("rpi", {}) in SEEN


def test_golden_entries_are_unique() -> None:
    assert len(SEEN) == len(ENTRIES)
