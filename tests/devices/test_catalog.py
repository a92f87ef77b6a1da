"""The profile catalogue: completeness, internal consistency, aliases, names."""

from __future__ import annotations

import json

import pytest

from edgekit.backends import NAMES as BACKENDS
from edgekit.devices import ALIASES, PROFILES, profiles, resolve_target
from edgekit.devices.catalog import closest_names
from edgekit.errors import UnsupportedTargetError
from edgekit.vocab import PRECISIONS

ISSUE_TARGETS = (
    "jetson-nano",
    "jetson-xavier-nx",
    "jetson-agx-xavier",
    "jetson-orin-nano",
    "jetson-orin-nx",
    "jetson-agx-orin",
    "jetson-thor",
    "rpi5",
    "rpi4",
    "x86-avx2",
    "x86-vnni",
    "x86-amx",
    "arm64",
)


def test_catalogue_has_every_target_of_the_issue() -> None:
    assert sorted(PROFILES.names()) == sorted(ISSUE_TARGETS)
    assert [p.name for p in profiles()] == list(ISSUE_TARGETS)


@pytest.mark.parametrize("profile", profiles(), ids=lambda p: p.name)
def test_profile_is_consistent(profile) -> None:
    assert profile.default_precision in profile.precisions
    assert set(profile.backend_names) <= set(BACKENDS)
    for support in profile.backends:
        assert support.precisions and set(support.precisions) <= set(PRECISIONS)
    assert profile.int8 == bool(profile.backends_for("int8"))
    # every backend that runs INT8 here says how to quantize for it, and no other does
    assert {c.backend for c in profile.int8_constraints} == set(profile.backends_for("int8"))
    if profile.is_jetson:
        assert profile.backend_names == ("tensorrt",)
        assert profile.jetpack() is not None, "default JetPack must be one of its releases"
        assert len({r.version for r in profile.jetpacks}) == len(profile.jetpacks)
        assert profile.memory_gb
    else:
        assert not profile.jetpacks and profile.default_jetpack is None and profile.dla_cores == 0
    json.dumps(profile.to_dict())  # JSON-ready


def test_jetson_facts() -> None:
    nano = PROFILES.get("jetson-nano")
    assert not nano.int8 and nano.fp16 and nano.jetpack().python == "3.6"
    assert nano.jetpack().tensorrt == "8.2"
    orin = PROFILES.get("jetson-orin-nano")
    assert orin.dla_cores == 0
    trt = {r.version: r.tensorrt for r in orin.jetpacks}
    assert trt["5.1"] == "8.5" and trt["6.0"] == "8.6" and trt["6.1"] == trt["6.2"] == "10.3"
    assert {r.version for r in PROFILES.get("jetson-xavier-nx").jetpacks} == {"4.6", "5.1"}
    assert PROFILES.get("jetson-thor").dla_cores == 0
    assert all(r.python == "3.12" for r in PROFILES.get("jetson-thor").jetpacks)
    assert PROFILES.get("jetson-agx-orin").dla_cores == 2


def test_int8_schemes_follow_the_isa() -> None:
    avx2 = PROFILES.get("x86-avx2").int8_for("onnxruntime")
    assert avx2 is not None and avx2.activation_type == "uint8" and avx2.reduce_range
    for name in ("x86-vnni", "x86-amx"):  # U8S8: onnxruntime's fast x86 kernels (S8S8 ran slower than FP32)
        ort = PROFILES.get(name).int8_for("onnxruntime")
        assert ort is not None and ort.activation_type == "uint8" and not ort.reduce_range
    arm = PROFILES.get("rpi5").int8_for("onnxruntime")
    assert arm is not None and arm.activation_type == "int8"
    trt = PROFILES.get("jetson-orin-nano").int8_for("tensorrt")
    assert trt is not None and trt.activation_symmetric


@pytest.mark.parametrize("alias, canonical", sorted(ALIASES.items()))
def test_alias_resolves(alias: str, canonical: str) -> None:
    profile, used = resolve_target(alias)
    assert profile.name == canonical and used == alias


def test_required_aliases() -> None:
    assert ALIASES["jetson"] == "jetson-orin-nano"
    assert ALIASES["rpi"] == "rpi5"


def test_canonical_name_has_no_alias_and_case_is_ignored() -> None:
    profile, used = resolve_target(" Jetson-Orin-Nano ")
    assert profile.name == "jetson-orin-nano" and used is None


@pytest.mark.parametrize(
    "typo, expected",
    [
        ("jetsn", "jetson"),
        ("rpi6", "rpi5"),
        ("jetson-orin-nanoo", "jetson-orin-nano"),
        ("x86-avx", "x86-avx2"),
    ],
)
def test_unknown_target_names_the_closest(typo: str, expected: str) -> None:
    with pytest.raises(UnsupportedTargetError) as info:
        resolve_target(typo)
    message = str(info.value)
    assert message.startswith(f"unknown target '{typo}'; closest: ")
    assert expected in message.split("closest: ")[1]
    assert expected in closest_names(typo)


def test_unknown_target_without_close_names_lists_all() -> None:
    with pytest.raises(UnsupportedTargetError, match=r"known: .*jetson-nano.*rpi5"):
        resolve_target("zzzzzz")
