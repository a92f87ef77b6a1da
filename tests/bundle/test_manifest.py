from __future__ import annotations

import copy

import pytest

from edgekit.bundle import Manifest
from edgekit.bundle._fields import FieldError

from .conftest import manifest_dict


def test_roundtrip_is_lossless() -> None:
    m = Manifest.from_dict(manifest_dict())
    again = Manifest.from_dict(m.to_dict())
    assert again == m
    assert m.input.height == 384 and m.input.width == 640  # rectangular input survives
    assert m.class_names == ("a", "b")
    assert m.artifact("onnxruntime").path == "model.onnx"
    assert next(iter(m.to_dict())) == "schema_version"


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d.pop("input"), "'input'"),
        (lambda d: d["input"].update(height=0), "input.height"),
        (lambda d: d["input"].update(layout="NHCW"), "input.layout"),
        (lambda d: d["preprocess"].update(resize="crop"), "preprocess.resize"),
        (lambda d: d["preprocess"].update(pad_value=300), "preprocess.pad_value"),
        (lambda d: d["preprocess"].update(scale=-1), "preprocess.scale"),
        (lambda d: d["outputs"][1].update(role="probabilities"), "outputs[1].role"),
        (lambda d: d["decoder"].update(type="magic"), "decoder.type"),
        (lambda d: d["decoder"].update(conf_threshold=1.5), "decoder.conf_threshold"),
        (lambda d: d["decoder"].update(type="host-dfl"), "decoder.strides"),
        (lambda d: d["model"].update(class_names=[]), "model.class_names"),
        (lambda d: d["source"].update(sha256="xyz"), "source.sha256"),
        (lambda d: d.update(artifacts=[]), "artifacts"),
        (lambda d: d["artifacts"][0].update(backend="ncnn"), "artifacts[0].backend"),
        (lambda d: d.update(schema_version=99), "schema_version 99"),
        (lambda d: d.pop("schema_version"), "schema_version"),
        (lambda d: d.update(colour="RGB"), "unknown field 'colour' in the manifest"),
        (lambda d: d["input"].update(colour="RGB"), "unknown field 'input.colour' in input"),
        (lambda d: d["artifacts"][0].update(sha="x"), "unknown field 'artifacts[0].sha'"),
        (lambda d: d["verification"].update(max_rel_error={}), "unknown field 'verification.max_rel_error'"),
        (lambda d: d["reparam"].update(steps=[]), "unknown field 'reparam.steps'"),
        (lambda d: d.update(build={"onnx": "m.onnx", "precision": "fp16", "trtexc": ""}), "build.trtexc"),
        (lambda d: d["target"].update(dla=0), "'target': conversion plan: unknown field.s. dla"),
        (
            lambda d: d["artifacts"][0].update(io=[{"name": "images", "dtype": "int4"}]),
            "artifacts[0].io[0].dtype",
        ),
        (lambda d: d["artifacts"][0].update(io=[{"name": "logits", "dtype": "int8"}]), "io names ['logits']"),
        (
            lambda d: d["artifacts"][0].update(extra_outputs=[{"name": "best", "role": "top", "shape": [1]}]),
            "artifacts[0].extra_outputs[0].role",
        ),
        (
            lambda d: d["artifacts"][0].update(
                extra_outputs=[{"name": "scores", "role": "best_scores", "shape": [1, 4], "dtype": "float32"}]
            ),
            "extra_outputs repeat the outputs ['scores']",
        ),
    ],
)
def test_schema_violations_name_the_field(mutate, field: str) -> None:
    d = copy.deepcopy(manifest_dict())
    mutate(d)
    with pytest.raises(FieldError, match=field.replace("[", r"\[").replace("]", r"\]")):
        Manifest.from_dict(d)


@pytest.mark.parametrize(
    "bad", ["../model.onnx", "/etc/passwd", "a/../../x.onnx", "C:\\model.onnx", "..\\m.onnx"]
)
def test_paths_must_stay_inside_the_bundle(bad: str) -> None:
    with pytest.raises(FieldError, match="inside the bundle"):
        Manifest.from_dict(manifest_dict(model_path=bad))


def test_nested_relative_path_is_allowed() -> None:
    m = Manifest.from_dict(manifest_dict(model_path="onnx/./model.onnx"))
    assert m.artifacts[0].path == "onnx/./model.onnx"


def test_an_artifacts_integer_io_applies_to_that_artifact_only() -> None:
    d = manifest_dict()
    q = {"scale": 1 / 255, "zero_point": -128}
    d["artifacts"].append(
        {**d["artifacts"][0], "backend": "tflite", "path": "model.tflite", "precision": "int8"}
    )
    d["artifacts"][1]["io"] = [
        {"name": "images", "dtype": "int8", "quantization": q},
        {"name": "scores", "dtype": "int8", "quantization": {"scale": 1 / 256, "zero_point": -128}},
    ]
    m = Manifest.from_dict(d)
    assert Manifest.from_dict(m.to_dict()) == m
    assert m.for_artifact(m.artifact("onnxruntime")) is m
    seen = m.for_artifact(m.artifact("tflite"))
    assert seen.input.dtype == "int8" and seen.input.quantization.zero_point == -128
    assert seen.outputs[0] == m.outputs[0]  # boxes stay float
    assert seen.outputs[1].dtype == "int8" and seen.outputs[1].quantization.scale == 1 / 256


def test_an_artifacts_extra_outputs_follow_the_manifests() -> None:
    d = manifest_dict()
    d["artifacts"][0]["extra_outputs"] = [
        {"name": "best_scores", "role": "best_scores", "shape": [1, 8400], "dtype": "float32"},
        {"name": "best_classes", "role": "best_classes", "shape": [1, 8400], "dtype": "int64"},
    ]
    pixels = {"scale": 1 / 255, "zero_point": 0}
    d["artifacts"][0]["io"] = [{"name": "images", "dtype": "uint8", "quantization": pixels}]
    m = Manifest.from_dict(d)
    assert Manifest.from_dict(m.to_dict()) == m
    seen = m.for_artifact(m.artifacts[0])
    assert [o.role for o in seen.outputs] == [o.role for o in m.outputs] + ["best_scores", "best_classes"]
    assert seen.outputs[-1].dtype == "int64" and seen.input.dtype == "uint8"


def test_the_records_are_typed_and_round_trip() -> None:
    m = Manifest.from_dict(manifest_dict())
    assert m.target is not None and m.target.target == "x86-vnni" and m.target.backends[0] == "openvino"
    assert m.reparam is not None and m.reparam.passes[0]["name"] == "conv_bn"  # was read as its keys
    assert m.to_dict()["reparam"] == manifest_dict()["reparam"]
    assert m.verification.onnx_simplify == {"kept": True} and m.build is None
    assert Manifest.from_dict(m.to_dict()) == m


def test_a_schema_1_manifest_is_read_and_upgraded() -> None:
    """Schema 1 kept the engine build inside ``target`` and free-form verification figures."""
    d = manifest_dict()
    build = {
        "onnx": "model.onnx",
        "precision": "fp16",
        "tensorrt": "10.3",
        "max_batch": 1,
        "trtexec": "trtexec --onnx=model.onnx --fp16",
        "trtexec_by_tensorrt": {"10.3": "trtexec --fp16"},
    }
    d.update(schema_version=1, target={**d["target"], "build": build})
    d["verification"] = {"max_rel_error": {"boxes": 1e-6}, "backends_not_built": ["tflite"]}
    m = Manifest.from_dict(d)
    assert m.schema_version == 2 and m.build is not None and m.build.precision == "fp16"
    assert m.build.to_dict()["trtexec_by_tensorrt"] == {"10.3": "trtexec --fp16"}
    assert m.target is not None and m.verification.backends_not_built == ("tflite",)
    old_plan = manifest_dict()
    old_plan.update(schema_version=1, target={"target": "x86-vnni"}, reparam=[])  # an early layout
    m = Manifest.from_dict(old_plan)
    assert m.target is None and m.reparam is None
