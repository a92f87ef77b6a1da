"""Build manifests in tests without a conversion."""

from __future__ import annotations

from typing import Sequence

from edgekit.bundle.manifest import (
    Artifact,
    DecoderSpec,
    InputSpec,
    Manifest,
    ModelSection,
    OutputSpec,
    Preprocess,
    SourceInfo,
)


def manifest(
    outputs: Sequence[OutputSpec],
    decoder: DecoderSpec,
    names: Sequence[str] = ("a", "b", "c"),
    height: int = 64,
    width: int = 64,
    preprocess: Preprocess = Preprocess(),
    batch: int | None = 1,
    model_path: str = "model.onnx",
    sha256: str = "0" * 64,
    size: int = 0,
) -> Manifest:
    return Manifest(
        source=SourceInfo("test.pt", "0" * 64),
        model=ModelSection("test", "tiny", tuple(names)),
        input=InputSpec("images", height, width, batch=batch),
        preprocess=preprocess,
        outputs=tuple(outputs),
        decoder=decoder,
        artifacts=(Artifact("onnxruntime", model_path, "fp32", sha256, size),),
        edgekit_version="0.1.0",
        created="2026-11-21T00:00:00Z",
    )
