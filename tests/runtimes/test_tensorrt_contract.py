"""edgekit's TensorRT code run against every contract-checked release's real API.

Each stand-in is generated from a dump of the real bindings wheel (``tools/tensorrt_bindings.sh``,
``tests/data/tensorrt_api/``): a removed enum member, a missing method or a call of the wrong
arity fails here as it would on the board. Every precision x DLA x static/dynamic batch build,
engine loading, the enqueue path and the runtime's shape handling run per version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest

from edgekit.bundle.manifest import InputSpec, OutputSpec
from edgekit.errors import TensorRtVersionError
from edgekit.runtimes import trt_engine
from edgekit.runtimes.tensorrt import TensorRtRuntime

from .trt_contract import CUDA_VERSIONS, TRT_VERSIONS, FakeEngine, called, cuda_standin, install, trt_standin

BUILDS = [
    (precision, dla, dynamic)
    for precision in ("fp32", "fp16", "int8")
    for dla in (None, 0)
    for dynamic in (False, True)
    if not (dla is not None and (precision == "fp32" or dynamic))  # the plan refuses these
]


def _major(version: str) -> int:
    return int(version.split("-")[1].split(".")[0])


def _section(precision: str, dla: Any, dynamic: bool) -> Dict[str, Any]:
    build: Dict[str, Any] = {"precision": precision, "dla_core": dla, "workspace_mib": 512}
    if dynamic:
        build["batch"] = {"min": 1, "opt": 8, "max": 8}
    return build


@pytest.mark.parametrize("precision,dla,dynamic", BUILDS)
@pytest.mark.parametrize("version", TRT_VERSIONS)
def test_build_engine(
    version: str, precision: str, dla: Any, dynamic: bool, tmp_path: Path, monkeypatch
) -> None:
    engine = FakeEngine(inputs={"images": (-1 if dynamic else 1, 3, 64, 64)})
    trt = trt_standin(version, engine)
    install(monkeypatch, trt, cuda_standin(CUDA_VERSIONS[-1]))
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"onnx")
    dest = trt_engine.build_engine(
        onnx, _section(precision, dla, dynamic), tmp_path / "e" / "k.engine", say=str
    )
    assert dest.read_bytes() == b"engine" and (tmp_path / "e" / "timing.cache").read_bytes() == b"cache"
    flags = {args[0].name for args in called(trt, "IBuilderConfig.set_flag")}
    major = _major(version)
    wanted = set() if major >= 11 else {"fp32": set(), "fp16": {"FP16"}, "int8": {"FP16", "INT8"}}[precision]
    assert flags - {"GPU_FALLBACK"} == wanted
    assert ("GPU_FALLBACK" in flags) == (dla is not None)
    (network_flags,) = called(trt, "Builder.create_network")[0]
    member = {8: "EXPLICIT_BATCH", 10: None, 11: "STRONGLY_TYPED"}[major]
    expected = 0 if member is None else 1 << int(getattr(trt.NetworkDefinitionCreationFlag, member))
    assert network_flags == expected
    shapes = called(trt, "IOptimizationProfile.set_shape")
    if dynamic:
        assert shapes == [("images", (1, 3, 64, 64), (8, 3, 64, 64), (8, 3, 64, 64))]
        assert len(called(trt, "IBuilderConfig.add_optimization_profile")) == 1
    else:
        assert shapes == []


@pytest.mark.parametrize("version", TRT_VERSIONS)
def test_an_unknown_major_is_refused_in_one_line(version: str, monkeypatch) -> None:
    trt = trt_standin(version, FakeEngine())
    trt.__version__ = "12.0.1"
    install(monkeypatch, trt, cuda_standin(CUDA_VERSIONS[-1]))
    with pytest.raises(
        TensorRtVersionError, match=r"TensorRT 12\.0\.1 is not one edgekit builds with"
    ) as err:
        trt_engine.build_engine(Path("m.onnx"), {"precision": "fp16"}, Path("x.engine"), say=str)
    assert "\n" not in str(err.value)


def test_tensorrt_11_fp16_builds_from_the_fp16_onnx() -> None:
    build = {"precision": "fp16", "onnx_fp16": "model-fp16.onnx"}
    assert trt_engine.build_onnx(build, "model.onnx", 11) == "model-fp16.onnx"
    assert trt_engine.build_onnx(build, "model.onnx", 10) == "model.onnx"
    assert trt_engine.build_onnx({"precision": "int8"}, "model-qdq.onnx", 11) == "model-qdq.onnx"
    with pytest.raises(TensorRtVersionError, match="FP16 ONNX"):
        trt_engine.build_onnx({"precision": "fp16"}, "model.onnx", 11)


def _runtime(tmp_path: Path, batch: Any) -> TensorRtRuntime:
    path = tmp_path / "model.engine"
    path.write_bytes(b"engine")
    outputs = [OutputSpec("boxes", "boxes", (batch, 4, 84)), OutputSpec("scores", "scores", (batch, 3, 84))]
    return TensorRtRuntime(path, InputSpec("images", 64, 64, batch=batch), outputs)


@pytest.mark.parametrize("cuda_version", CUDA_VERSIONS)
@pytest.mark.parametrize("version", TRT_VERSIONS)
def test_load_and_enqueue_static(version: str, cuda_version: str, tmp_path: Path, monkeypatch) -> None:
    trt = trt_standin(version, FakeEngine())
    rt = cuda_standin(cuda_version)
    install(monkeypatch, trt, rt)
    with _runtime(tmp_path, 1) as runtime:
        out = runtime.infer(np.zeros((1, 3, 64, 64), np.float32))
        assert out["boxes"].shape == (1, 4, 84) and out["scores"].shape == (1, 3, 84)
    assert len(called(trt, "IExecutionContext.execute_async_v3")) == 1
    assert len(called(rt, "cudaMemcpyAsync")) == 3


@pytest.mark.parametrize("version", TRT_VERSIONS)
def test_dynamic_shapes_beyond_the_batch_axis(version: str, tmp_path: Path, monkeypatch) -> None:
    """The engine reports -1 in the batch *and* the anchor axis; the context resolves both."""
    engine = FakeEngine(
        inputs={"images": (-1, 3, 64, 64)},
        outputs={"boxes": (-1, 4, -1), "scores": (-1, 3, -1)},
        profile=((1, 3, 64, 64), (4, 3, 64, 64), (8, 3, 64, 64)),
    )
    trt = trt_standin(version, engine)
    install(monkeypatch, trt, cuda_standin(CUDA_VERSIONS[-1]))
    with _runtime(tmp_path, None) as runtime:
        assert runtime.max_batch == 8
        assert runtime._host["boxes"].array.shape == (8, 4, 84)
        for batch in (3, 8, 1):
            out = runtime.infer(np.zeros((batch, 3, 64, 64), np.float32))
            assert out["boxes"].shape == (batch, 4, 84) and out["scores"].shape == (batch, 3, 84)
    assert [args[1][0] for args in called(trt, "IExecutionContext.set_input_shape")] == [8, 3, 8, 1]


@pytest.mark.parametrize("cuda_version", CUDA_VERSIONS)
def test_cuda_graph_replay(cuda_version: str, tmp_path: Path, monkeypatch) -> None:
    trt = trt_standin(TRT_VERSIONS[-1], FakeEngine())
    rt = cuda_standin(cuda_version)
    install(monkeypatch, trt, rt)
    path = tmp_path / "model.engine"
    path.write_bytes(b"engine")
    outputs = [OutputSpec("boxes", "boxes", (1, 4, 84)), OutputSpec("scores", "scores", (1, 3, 84))]
    with TensorRtRuntime(path, InputSpec("images", 64, 64), outputs, cuda_graph=True) as runtime:
        for _ in range(3):
            runtime.infer(np.zeros((1, 3, 64, 64), np.float32))
    assert len(called(rt, "cudaGraphLaunch")) == 2
    assert len(called(rt, "cudaGraphInstantiateWithFlags")) == 1


JETPACK_72 = [v for v in TRT_VERSIONS if v.startswith(("tensorrt-10.16", "tensorrt-11."))]


@pytest.mark.parametrize("version", JETPACK_72)
@pytest.mark.parametrize("precision", ["int8", "fp16"])
def test_a_jetpack_72_dynamic_build_section_builds_on_10_16_and_11(
    version: str, precision: str, tmp_path: Path, monkeypatch
) -> None:
    """What ``convert --target jetson-agx-orin --jetpack 7.2 --dynamic --max-batch 8`` records."""
    import dataclasses

    from edgekit.converters.tensorrt import build_section
    from edgekit.devices import resolve_plan

    plan = resolve_plan("jetson-agx-orin", jetpack="7.2", precision=precision, dynamic=True)
    section = build_section(dataclasses.replace(plan, max_batch=8), "model.onnx", "model-fp16.onnx").to_dict()
    assert section["batch"] == {"min": 1, "opt": 8, "max": 8} and set(section["trtexec_by_tensorrt"]) == {
        "10.16",
        "11.4",
    }
    line = section["trtexec_by_tensorrt"]["11.4"]
    assert "--fp16" not in line and "--int8" not in line and "--maxShapes=images:8x3x640x640" in line
    engine = FakeEngine(inputs={"images": (-1, 3, 640, 640)})
    trt = trt_standin(version, engine)
    install(monkeypatch, trt, cuda_standin(CUDA_VERSIONS[-1]))
    onnx = trt_engine.build_onnx(section, "model.onnx", _major(version))
    assert onnx == ("model-fp16.onnx" if precision == "fp16" and _major(version) >= 11 else "model.onnx")
    (tmp_path / onnx).write_bytes(b"onnx")
    trt_engine.build_engine(tmp_path / onnx, section, tmp_path / "e.engine", say=str)
    assert called(trt, "IOptimizationProfile.set_shape") == [
        ("images", (1, 3, 640, 640), (8, 3, 640, 640), (8, 3, 640, 640))
    ]
