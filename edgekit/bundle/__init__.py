"""Bundles: a directory with the model file(s) and ``manifest.json`` (on-device: numpy-free even)."""

from edgekit.bundle.io import Bundle, BundleWriter, read_bundle, sha256_file
from edgekit.bundle.manifest import (
    SCHEMA_VERSION,
    Artifact,
    ArtifactFile,
    DecoderSpec,
    InputSpec,
    Manifest,
    ModelSection,
    OutputSpec,
    Preprocess,
    Quantization,
    SourceInfo,
)

__all__ = [
    "SCHEMA_VERSION",
    "Artifact",
    "ArtifactFile",
    "Bundle",
    "BundleWriter",
    "DecoderSpec",
    "InputSpec",
    "Manifest",
    "ModelSection",
    "OutputSpec",
    "Preprocess",
    "Quantization",
    "SourceInfo",
    "read_bundle",
    "sha256_file",
]
