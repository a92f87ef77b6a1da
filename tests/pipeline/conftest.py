"""Fixtures for the pipeline tests: a tiny real ONNX bundle and its Detector."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from ..conftest import need
from ..runtimes.tiny import write_tiny_bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("onnxruntime")
    need("cv2")
    return write_tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny.edgekit")


@pytest.fixture(scope="module")
def detector(bundle: Path) -> Iterator[object]:
    from edgekit.detector import Detector

    det = Detector(bundle, threads=1)
    yield det
    det.close()
