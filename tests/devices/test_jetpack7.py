"""JetPack 7 facts: 7.1 (Thor) and 7.2 (Orin and Thor), TensorRT 11.4 from pip, each with its source."""

from __future__ import annotations

import pytest

from edgekit.devices import profiles, resolve_plan
from edgekit.devices.jetpack import JP71, JP72, PIP_TENSORRT
from edgekit.errors import UnsupportedTargetError

BOARDS = {p.name: p for p in profiles()}


@pytest.mark.parametrize(
    "release,tensorrt,cuda", [(JP71, "10.13", "13.0"), (JP72, "10.16", "13.2")], ids=["7.1", "7.2"]
)
def test_jetpack_7_stack(release, tensorrt: str, cuda: str) -> None:
    assert (release.tensorrt, release.cuda, release.python, release.ubuntu) == (
        tensorrt,
        cuda,
        "3.12",
        "24.04",
    )
    assert release.dla is False  # TensorRT 10.7 was the last 10.x with DLA
    assert "https://" in release.source


def test_which_boards_take_jetpack_7() -> None:
    assert {r.version for r in BOARDS["jetson-thor"].jetpacks} >= {"7.1", "7.2"}
    for orin in ("jetson-orin-nano", "jetson-orin-nx", "jetson-agx-orin"):
        versions = {r.version for r in BOARDS[orin].jetpacks}
        assert "7.2" in versions and "7.1" not in versions  # 7.0/7.1 are Thor-only
    assert not any(r.version.startswith("7") for r in BOARDS["jetson-xavier-nx"].jetpacks)


def test_tensorrt_11_from_pip_on_jetpack_72_brings_dla_back_on_agx_orin_only() -> None:
    version, dla_boards, source = PIP_TENSORRT["7.2"]
    assert version == "11.4" and dla_boards == ("jetson-agx-orin",) and source.startswith("https://pypi.org/")
    with pytest.raises(UnsupportedTargetError, match=r"TensorRT <= 10\.7"):  # plans follow JetPack's 10.16
        resolve_plan("jetson-agx-orin", jetpack="7.2", precision="fp16", dla_core=0)
