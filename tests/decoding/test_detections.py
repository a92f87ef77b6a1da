from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit.decoding import Detections


def sample() -> Detections:
    return Detections(
        np.array([[0, 0, 10, 10], [5, 5, 20, 20], [1, 2, 3, 4]]), [0.9, 0.3, 0.6], [1, 0, 1], ["cat", "dog"]
    )


def test_indexing_and_filtering() -> None:
    d = sample()
    assert len(d) == 3 and d.names == ["dog", "cat", "dog"]
    assert len(d[0]) == 1 and d[0].names == ["dog"]
    assert len(d[d.confidence > 0.5]) == 2
    assert d.filter(min_confidence=0.5, classes=["dog"]).confidence.tolist() == pytest.approx([0.9, 0.6])
    assert d.filter(classes=[0]).names == ["cat"]
    assert d.xyxy.dtype == np.float32 and d.class_id.dtype == np.int32


def test_json() -> None:
    rows = json.loads(sample().to_json())
    assert rows[0] == {"box": [0.0, 0.0, 10.0, 10.0], "confidence": 0.9, "class_id": 1, "class": "dog"}


def test_validation() -> None:
    with pytest.raises(ValueError, match="3 boxes"):
        Detections(np.zeros((3, 4)), [0.1], [0, 0, 0])
    with pytest.raises(ValueError, match="class_id"):
        Detections(np.zeros((1, 4)), [0.1], [5], ["a"])
    assert len(Detections.empty(["a"])) == 0
