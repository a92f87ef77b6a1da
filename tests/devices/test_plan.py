"""resolve_plan: refusals, flag normalisation, the plan object itself."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, Tuple

import pytest

from edgekit.devices import ConversionPlan, HostInfo, profiles, resolve_plan
from edgekit.devices.cpu_default import is_default_bf16
from edgekit.devices.plan import without_bf16
from edgekit.errors import UnsupportedTargetError

REFUSALS: Tuple[Tuple[str, Dict[str, Any], Tuple[str, ...]], ...] = (
    ("jetson-nano", {"precision": "int8"}, ("--precision int8", "jetson-nano", "no INT8 path")),
    ("jetson-orin-nano", {"dla_core": 0}, ("--dla-core", "jetson-orin-nano", "no DLA")),
    ("jetson-thor", {"dla_core": 0}, ("--dla-core", "jetson-thor", "no DLA")),
    ("jetson-xavier-nx", {"jetpack": "6.1"}, ("--jetpack 6.1", "jetson-xavier-nx", "do not support Xavier")),
    ("jetson-agx-xavier", {"jetpack": "7.0"}, ("--jetpack 7.0", "do not support Xavier", "4.6, 5.1")),
    ("jetson-nano", {"jetpack": "5.1"}, ("--jetpack 5.1", "last release for Jetson Nano")),
    ("jetson-thor", {"jetpack": "6.2"}, ("--jetpack 6.2", "Thor starts with JetPack 7")),
    ("jetson-agx-orin", {"jetpack": "7.2", "dla_core": 0}, ("--dla-core", "TensorRT 10.16", "no DLA")),
    ("jetson-agx-orin", {"dla_core": 2}, ("--dla-core 2", "out of range", "0..1")),
    ("jetson-agx-orin", {"dla_core": 0, "precision": "fp32"}, ("--dla-core", "fp32")),
    ("jetson-agx-orin", {"dla_core": 0, "dynamic": True}, ("--dla-core", "--dynamic")),
    ("x86-avx2", {"precision": "fp16"}, ("--precision fp16", "x86-avx2", "no FP16")),
    ("rpi4", {"precision": "fp16"}, ("--precision fp16", "rpi4")),
    ("rpi5", {"jetpack": "6.2"}, ("--jetpack", "rpi5", "not a Jetson")),
    ("rpi5", {"backend": "tensorrt"}, ("--backend tensorrt", "rpi5", "openvino")),
    (
        "rpi5",
        {"backend": "openvino", "precision": "int8"},
        ("--precision int8", "--backend openvino", "rpi5"),
    ),
    ("rpi5", {"backend": "tflite", "nms": "graph"}, ("--nms graph", "--backend tflite", "rpi5")),
    ("jetson-nano", {"opset": 17}, ("--opset 17", "TensorRT 8.2", "max 13")),
    ("jetson-orin-nano", {"opset": 21}, ("--opset 21", "TensorRT 10.3", "max 20")),
    ("x86-vnni", {"opset": 21}, ("--opset 21", "x86-vnni", "max 19")),
    ("x86-vnni", {"precision": "int8", "opset": 12}, ("--opset 12", "per-channel")),
    ("x86-vnni", {"opset": 9}, ("--opset 9", "too old")),
    ("x86-vnni", {"imgsz": 500}, ("--imgsz 500", "multiple of 32")),
    ("x86-vnni", {"imgsz": (640, 0)}, ("--imgsz 0",)),
    ("x86-vnni", {"imgsz": (1, 2, 3)}, ("--imgsz",)),
    (
        "x86-avx2",
        {"precision": "bf16"},
        ("--precision bf16 is not supported on x86-avx2", "AVX512_BF16 or AMX"),
    ),
    ("x86-vnni", {"backend": "ncnn"}, ("unknown backend 'ncnn'",)),
    ("x86-vnni", {"dfl": "host", "nms": "graph"}, ("--nms graph", "--dfl host")),
    ("x86-vnni", {"dfl": "none"}, ("--dfl none",)),
    ("x86-vnni", {"nms": "maybe"}, ("--nms maybe",)),
)


@pytest.mark.parametrize("target, flags, fragments", REFUSALS, ids=[f"{t}-{f}" for t, f, _ in REFUSALS])
def test_contradicting_flags_are_refused(
    target: str, flags: Dict[str, Any], fragments: Tuple[str, ...]
) -> None:
    with pytest.raises(UnsupportedTargetError) as info:
        resolve_plan(target, **flags)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    "given, expected", [("6.1", "6.1"), ("JP6.1", "6.1"), ("6.2.1", "6.2"), ("jetpack 5.1.2", "5.1")]
)
def test_jetpack_spellings(given: str, expected: str) -> None:
    assert resolve_plan("jetson-orin-nx", jetpack=given).jetpack == expected


def test_jetpack_release_sets_the_software_stack() -> None:
    plan = resolve_plan("jetson-orin-nano", jetpack="6.0")
    assert (plan.tensorrt, plan.cuda, plan.python, plan.l4t) == ("8.6", "12.2", "3.10", "36.3")


def test_imgsz_forms_and_aliases() -> None:
    assert resolve_plan("x86-vnni", imgsz=320).imgsz == (320, 320)
    assert resolve_plan("x86-vnni", imgsz=(384, 640)).imgsz == (384, 640)
    assert resolve_plan("x86-vnni", imgsz=[416]).imgsz == (416, 416)
    assert resolve_plan("x86-vnni", precision="FLOAT32").precision == "fp32"
    assert resolve_plan("jetson", precision="half").precision == "fp16"
    assert resolve_plan("x86-vnni", nms=True).nms == "graph"


def test_convert_only_follows_the_jetpack_python() -> None:
    assert resolve_plan("jetson-nano").convert_only
    assert resolve_plan("jetson-xavier-nx", jetpack="4.6").convert_only
    assert not resolve_plan("jetson-xavier-nx", jetpack="5.1").convert_only
    nano = resolve_plan("jetson-nano")
    assert any("Python >= 3.8" in note for note in nano.notes)
    assert nano.trtexec_command() == (
        "trtexec --onnx=model.onnx --saveEngine=model.engine --fp16 --workspace=512"
    )


def test_int8_needs_calibration_and_keeps_the_head_float() -> None:
    plan = resolve_plan("x86-avx2", precision="int8")
    assert plan.calibration and plan.keep_head_float and plan.min_calibration_images >= 300
    assert [c.backend for c in plan.int8] == list(plan.backends)
    assert plan.int8_for("onnxruntime").scheme == "qdq-u8s8-reduce-range"
    fp32 = resolve_plan("x86-avx2")
    assert not fp32.calibration and fp32.int8 == () and fp32.min_calibration_images == 0


def test_backends_follow_precision_and_nms() -> None:
    assert resolve_plan("rpi5").backends == ("openvino", "onnxruntime", "tflite")
    assert resolve_plan("rpi5", precision="int8").backends == ("onnxruntime", "tflite")
    assert resolve_plan("rpi5", nms="graph").backends == ("openvino", "onnxruntime")
    assert resolve_plan("rpi5", nms="graph").output == "nms"
    assert resolve_plan("rpi5", backend="ONNXRUNTIME").backends == ("onnxruntime",)


def test_openvino_precision_hint_is_always_explicit() -> None:
    assert resolve_plan("x86-amx").options_for("openvino") == {"INFERENCE_PRECISION_HINT": "f32"}
    assert resolve_plan("rpi5", precision="fp16").options_for("openvino") == {
        "INFERENCE_PRECISION_HINT": "f16"
    }
    assert resolve_plan("rpi5", precision="int8").options_for("openvino") == {}


def test_cpu_alias_uses_the_given_host() -> None:
    host = HostInfo(
        arch="x86_64", cpu_model="test", cpu_cores=2, cpu_flags=("avx2", "lm"), memory_gb=None,
        device_model=None, soc=(), l4t=None, jetpack=None, jetpack_line=None, os_name=None,
        python="3.8.0", tensorrt=None,
    )  # fmt: skip
    plan = resolve_plan("cpu", host=host)
    assert plan.target == "x86-avx2" and plan.alias_used == "cpu"
    old = dataclasses.replace(host, cpu_flags=("lm", "sse4_2"))
    with pytest.raises(UnsupportedTargetError, match=r"'cpu' means this machine's CPU .* without AVX2"):
        resolve_plan("cpu", host=old)


def test_cpu_alias_defaults_to_bf16_where_the_cpu_has_it() -> None:
    """``cpu`` on a CPU with native bf16: OpenVINO's bf16 hint, onnxruntime FP32 beside it; asked
    precisions, a backend without bf16 and a CPU without it keep FP32."""
    host = HostInfo(
        arch="x86_64", cpu_model="test", cpu_cores=2, cpu_flags=("avx2", "avx512_bf16", "avx512_vnni"),
        memory_gb=None, device_model=None, soc=(), l4t=None, jetpack=None, jetpack_line=None,
        os_name=None, python="3.8.0", tensorrt=None,
    )  # fmt: skip
    plan = resolve_plan("cpu", host=host)
    assert plan.precision == "bf16" and plan.backends == ("openvino", "onnxruntime")
    assert plan.options_for("openvino") == {"INFERENCE_PRECISION_HINT": "bf16"}
    assert is_default_bf16(plan) and any("native bf16" in note for note in plan.notes)
    assert resolve_plan("cpu", host=host, backend="openvino").precision == "bf16"
    assert resolve_plan("cpu", host=host, precision="fp32").precision == "fp32"
    assert resolve_plan("cpu", host=host, precision="int8").precision == "int8"
    assert resolve_plan("cpu", host=host, backend="onnxruntime").precision == "fp32"
    assert resolve_plan("x86-vnni").precision == "fp32"  # a named target: the host is not asked
    assert not is_default_bf16(resolve_plan("x86-vnni", precision="bf16"))
    no_bf16 = dataclasses.replace(host, cpu_flags=("avx2", "avx512_vnni"))
    assert resolve_plan("cpu", host=no_bf16).precision == "fp32"

    fallback = without_bf16(plan, "openvino bf16 (model.xml): scores differ")
    assert fallback.precision == "fp32" and not is_default_bf16(fallback)
    assert fallback.options_for("openvino") == {"INFERENCE_PRECISION_HINT": "f32"}
    assert "failed its check" in fallback.notes[-1] and "scores differ" in fallback.notes[-1]


def test_cpu_alias_on_this_machine() -> None:
    plan = resolve_plan("cpu")  # the build machine: some x86 or ARM CPU profile
    assert plan.alias_used == "cpu" and plan.target in {p.name for p in profiles() if not p.is_jetson}


def test_with_head_adapts_dfl_and_nms() -> None:
    plan = resolve_plan("jetson-orin-nano", nms="graph")
    assert plan.with_head(bins=16, end2end=False) is plan
    nms_free = plan.with_head(bins=1, end2end=True)
    assert (nms_free.dfl, nms_free.nms, nms_free.output) == ("none", "none", "end2end")
    assert any("NMS-free" in note for note in nms_free.notes)
    assert plan.dfl == "fused" and plan.nms == "graph"  # the original is unchanged


def test_plan_is_frozen_and_versioned() -> None:
    plan = resolve_plan("rpi5")
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.precision = "int8"  # type: ignore[misc]
    data = plan.to_dict()
    assert data["schema"] == 1
    with pytest.raises(ValueError, match="schema 2"):
        ConversionPlan.from_dict({**data, "schema": 2})
    broken = dict(data)
    del broken["opset"]
    with pytest.raises(ValueError, match="malformed"):
        ConversionPlan.from_dict(broken)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"precision": "bfloat16"}, "precision 'bfloat16' is not one of fp32, fp16, bf16, int8"),
        ({"dfl": "softmax"}, "dfl 'softmax' is not one of fused, host, none"),
        ({"nms": "device"}, "nms 'device' is not one of host, graph, none"),
        ({"output": "flat"}, "output 'flat' is not one of split, concat, end2end, nms"),
        ({"backends": ["onnxruntime", "ncnn"]}, "backends 'ncnn' is not one of tensorrt, openvino"),
        ({"dla": 0}, "unknown field.s. dla"),
    ],
)
def test_plan_read_back_refuses_values_outside_the_vocabulary(change, message) -> None:
    data = {**resolve_plan("rpi5").to_dict(), **change}
    with pytest.raises(ValueError, match=message):
        ConversionPlan.from_dict(data)


@pytest.mark.parametrize("profile", profiles(), ids=lambda p: p.name)
def test_every_default_plan_round_trips_through_json(profile) -> None:
    plan = resolve_plan(profile.name)
    assert ConversionPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


def test_describe_is_a_readable_summary() -> None:
    text = resolve_plan("jetson", precision="int8", dla_core=None).describe()
    assert text.splitlines()[0].startswith("target")
    assert "jetson-orin-nano (from 'jetson')" in text
    assert "qdq-s8s8-symmetric" in text and "trtexec --onnx=model.onnx" in text and "--int8" in text
    cpu = resolve_plan("x86-vnni").describe()
    assert "trtexec" not in cpu and "INFERENCE_PRECISION_HINT=f32" in cpu
    assert resolve_plan("x86-vnni").trtexec_command() is None


@pytest.mark.parametrize("target", ["x86-avx2", "x86-vnni", "x86-amx"])
def test_tflite_is_built_on_x86_only_when_asked_for(target: str) -> None:
    assert "tflite" not in resolve_plan(target).backends
    for precision in ("fp32", "int8"):  # x86 has no FP16 arithmetic: refused as for every backend
        assert resolve_plan(target, backend="tflite", precision=precision).backends == ("tflite",)


def test_bf16_is_openvino_s_on_x86_cpus_that_may_have_it_and_refused_elsewhere() -> None:
    plan = resolve_plan("x86-vnni", precision="bf16")
    assert plan.precision == "bf16" and plan.backends == ("openvino",)
    assert plan.options_for("openvino") == {"INFERENCE_PRECISION_HINT": "bf16"}
    assert resolve_plan("x86-amx", precision="bfloat16").precision == "bf16"
    for target in ("x86-avx2", "rpi5", "jetson"):
        with pytest.raises(
            UnsupportedTargetError, match=r"--precision bf16 is not supported.*AVX512_BF16 or AMX"
        ):
            resolve_plan(target, precision="bf16")
    with pytest.raises(UnsupportedTargetError, match="bf16 is not available with --backend onnxruntime"):
        resolve_plan("x86-vnni", precision="bf16", backend="onnxruntime")
