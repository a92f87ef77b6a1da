"""The backend descriptors: the one place a backend is described, read by every consumer."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit import backends
from edgekit._optional import EXTRAS
from edgekit.backends import BACKENDS, NAMES
from edgekit.bundle.manifest import Artifact
from edgekit.errors import UnknownNameError
from edgekit.runtimes import runtime_class

ROOT = Path(__file__).resolve().parents[2]
tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")


def test_names_follow_the_rank_and_each_file_registers_one() -> None:
    files = sorted(
        p.stem for p in (ROOT / "edgekit" / "backends").glob("*.py") if p.stem not in ("__init__", "base")
    )
    assert sorted(NAMES) == files  # one descriptor per file, named after it
    ranks = [BACKENDS.get(n).rank for n in NAMES]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)


@pytest.mark.parametrize("name", NAMES, ids=lambda n: f"backend-{n}")  # not the hardware marker names
def test_each_runtime_module_registers_the_backends_runtime(name: str) -> None:
    cls = runtime_class(name)  # imports the descriptor's runtime module on first use
    assert cls.backend == name
    assert cls.__module__ == BACKENDS.get(name).runtime


@pytest.mark.parametrize("name", NAMES, ids=lambda n: f"backend-{n}")  # not the hardware marker names
def test_each_module_names_a_real_extra_that_lists_its_distribution(name: str) -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    backend = BACKENDS.get(name)
    for module in backend.all_modules():
        assert EXTRAS[module.name] == module.extra  # require() names the descriptor's extra
        assert module.extra in extras, f"{name}: no extra {module.extra!r} in pyproject.toml"
    # what pip installs for the preferred module and its companions (TensorRT itself: JetPack)
    for module in (backend.module, *backend.companions):
        if module.note:
            continue
        pins = [re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].lower() for req in extras[module.extra]]
        assert module.distribution in pins, (
            f"{name}: extra {module.extra} does not install {module.distribution}"
        )


def test_precisions_and_flags_agree_with_the_vocabulary() -> None:
    from edgekit.vocab import PRECISIONS

    for name in NAMES:
        b = BACKENDS.get(name)
        assert set(b.precisions) <= set(PRECISIONS) and "fp32" in b.precisions
        assert not (b.built_on_device and not b.reads_onnx)  # a model built on the board starts from ONNX
    assert backends.REFERENCE in NAMES and BACKENDS.get(backends.REFERENCE).reads_onnx
    assert set(backends.GRAPH_NMS) <= set(NAMES) and set(backends.ONNX_READERS) <= set(NAMES)


def test_an_unknown_backend_is_one_line_with_a_suggestion() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown backend 'onnxruntim'; did you mean onnxruntime"):
        BACKENDS.get("onnxruntim")


def test_the_manifest_reader_takes_exactly_the_registered_names(tmp_path: Path) -> None:
    good = {"backend": NAMES[0], "path": "model.onnx", "precision": "fp32", "sha256": "0" * 64, "size": 1}
    assert Artifact.from_dict(good, "artifacts[0]").backend == NAMES[0]
    with pytest.raises(Exception, match="ncnn"):
        Artifact.from_dict({**good, "backend": "ncnn"}, "artifacts[0]")


def test_doctor_lists_every_backend_module_from_the_descriptors() -> None:
    from edgekit.cli.doctor import modules_to_probe

    imports = [row[1] for row in modules_to_probe()]
    for name in NAMES:
        for module in BACKENDS.get(name).all_modules():
            assert module.name in imports


def test_the_on_device_side_imports_the_registry_without_the_converter_side() -> None:
    code = (
        "import sys, edgekit.backends, edgekit.detector; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx') "
        "or m.startswith('edgekit.converters')]; print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_converter_hook_resolves_to_a_function_of_its_kind() -> None:
    """The writer, INT8 quantizer and fallback ranking named by each descriptor exist (imported the
    way a conversion imports them), and the precisions a runtime takes as a hint are ones its
    artifacts can record."""
    pytest.importorskip("torch")
    import inspect

    from edgekit.vocab import CALIBRATION_METHODS, PRECISIONS

    optional = {"device_build": 1, "int8_source": 1}
    for name in NAMES:
        backend = BACKENDS.get(name)
        for kind, params in (("writer", 7), ("quantizer", 4), ("ranking", 4), *optional.items()):
            if kind in optional and not getattr(backend, kind):
                continue
            fn = backend.hook(kind)
            assert callable(fn) and len(inspect.signature(fn).parameters) == params, (name, kind)
        assert set(backend.precision_hints) <= set(backend.precisions), name
        assert backend.calibration in CALIBRATION_METHODS, name
        assert {p for p, _ in backend.precision_values} <= set(PRECISIONS), name
    built = [n for n in NAMES if BACKENDS.get(n).built_on_device]
    assert built == [n for n in NAMES if BACKENDS.get(n).device_build]  # every one has its build stage
    servable = {n: BACKENDS.get(n).serving for n in NAMES if BACKENDS.get(n).serving}
    assert len({s.order for s in servable.values()}) == len(servable)  # Triton's pick is unambiguous
    assert BACKENDS.get("openvino").precision_hints[0] == "fp32"  # the default hint is honest f32
    assert dict(BACKENDS.get("openvino").throughput_options) == {"mode": "throughput"}
