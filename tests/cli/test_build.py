"""``edgekit build --verify``: the engine's outputs against the bundle's ONNX, through edgekit.verify.

No GPU here: TensorRT is the stand-in generated from the real 10.16 bindings (JetPack 7.2), and
its ``execute_async_v3`` computes what an FP16 engine would, by running the bundle's own FP16 ONNX
(float16 weights and arithmetic) in onnxruntime on the input buffer the runtime filled. A valid
engine passes the FP16 bounds; an engine whose boxes are 2 px off or whose scores are 0.02 high
fails naming the output, and the CLI exits non-zero with one line.
"""

from __future__ import annotations

import importlib.machinery
import json
from pathlib import Path
from typing import Any, List, Optional

import numpy as np
import pytest

from edgekit.runtimes import trt_engine

from ..conftest import need
from ..runtimes.trt_contract import (
    CUDA_VERSIONS,
    TRT_VERSIONS,
    FakeEngine,
    called,
    cuda_standin,
    install,
    trt_standin,
)
from .helpers import one_line_error, run_cli

TINY = Path(__file__).resolve().parents[1] / "data" / "golden" / "ultralytics" / "yolo11_tiny.pt"
TRT_10_16 = next(v for v in TRT_VERSIONS if v.startswith("tensorrt-10.16"))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("torch")
    need("onnxruntime")
    from edgekit import convert

    out = tmp_path_factory.mktemp("build") / "orin.edgekit"
    return convert(TINY, target="jetson-agx-orin", jetpack="7.2", imgsz=96, output=out, measure=False)


def _engine(bundle: Path, monkeypatch: pytest.MonkeyPatch, fault: Optional[str]) -> Any:
    """Install a 10.16 stand-in whose engine computes with the bundle's FP16 ONNX (and ``fault``)."""
    ort = need("onnxruntime")
    from edgekit.runtimes.tensorrt import TensorRtRuntime

    fp16 = ort.InferenceSession(str(bundle / "model-fp16.onnx"), providers=["CPUExecutionProvider"])
    name = fp16.get_inputs()[0].name
    outputs = {o.name: tuple(o.shape) for o in fp16.get_outputs()}
    trt = trt_standin(TRT_10_16, FakeEngine(inputs={"images": (1, 3, 96, 96)}, outputs=outputs))
    install(monkeypatch, trt, cuda_standin(CUDA_VERSIONS[-1]))
    trt.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)  # importable, as on the board
    monkeypatch.setattr(trt_engine, "device_key", lambda _t, b, sha: f"test-{b['precision']}-{sha[:8]}")
    runtimes: List[Any] = []
    allocate = TensorRtRuntime._allocate

    def recorded(self: Any, trt_module: Any) -> None:
        allocate(self, trt_module)
        runtimes.append(self)

    def execute(_context: Any, _stream: Any) -> bool:
        rt = runtimes[-1]
        got = dict(zip(outputs, fp16.run(None, {name: rt._view(rt.input_name)})))
        if fault == "boxes":
            got["boxes"] = got["boxes"] + 2.0
        if fault == "scores":
            got["scores"] = np.minimum(got["scores"] + 0.02, 1.0)
        for out, value in got.items():
            rt._view(out)[...] = value
        return True

    monkeypatch.setattr(TensorRtRuntime, "_allocate", recorded)
    trt.behave["IExecutionContext.execute_async_v3"] = execute
    return trt


def test_a_valid_fp16_engine_verifies(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgekit.cli.build import verify_engine

    trt = _engine(bundle, monkeypatch, None)
    lines: List[str] = []
    report = verify_engine(bundle, 3, say=lines.append)
    assert len(called(trt, "IExecutionContext.execute_async_v3")) == 3
    rows = {r["name"]: r for r in report["rows"]}
    assert set(rows) == {"boxes", "scores"} and all(r["ok"] for r in rows.values())
    # fp16 arithmetic really differs from the fp32 ONNX, within the FP16 bounds
    assert 0 < rows["boxes"]["max_abs"] < 1.0 and rows["boxes"]["worst"] <= 1.0
    assert lines[-1] == "engine verified: 2 outputs within the fp16 bounds"
    assert json.loads((bundle / "manifest.json").read_text())["artifacts"][0]["precision"] == "fp16"


@pytest.mark.parametrize("fault,output", [("boxes", "boxes"), ("scores", "scores")])
def test_an_engine_off_by_a_little_fails_naming_the_output(
    bundle: Path, monkeypatch: pytest.MonkeyPatch, fault: str, output: str
) -> None:
    from edgekit.cli.build import verify_engine
    from edgekit.errors import VerificationError

    _engine(bundle, monkeypatch, fault)
    with pytest.raises(VerificationError, match=rf"the engine's output '{output}' differs from model\.onnx"):
        verify_engine(bundle, 2, say=str)


def test_build_without_tensorrt_is_one_line_error(bundle: Path) -> None:
    """The real CLI in a subprocess on this machine (no TensorRT): one line naming the install."""
    proc = run_cli("build", str(bundle), "--verify")
    one_line_error(proc, "tensorrt")


def test_build_of_a_bundle_without_tensorrt_names_it(tmp_path: Path) -> None:
    need("torch")
    from edgekit import convert

    cpu = convert(TINY, target="cpu", imgsz=64, output=tmp_path / "cpu.edgekit", measure=False)
    one_line_error(run_cli("build", str(cpu), "--verify"), "the bundle has no TensorRT model")
