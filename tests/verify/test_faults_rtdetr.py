"""Fault injection for RT-DETR (see ``test_faults.py``): faults an RT-DETR converter could really
make, each injected into a real conversion of a golden checkpoint the real Ultralytics package
built; each conversion must fail naming the pass or the artifact, and write nothing. The same
conversion without a fault passes (the last test), so each failure is the fault's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")  # the converter side (the device suite runs without torch)

from edgekit.models.loader import load_checkpoint  # noqa: E402

from .test_faults import backends, convert, fails, small_variances  # noqa: E402, F401  (the module fixture too)

HGNET = Path(__file__).resolve().parents[1] / "data" / "golden" / "rtdetr" / "rtdetr_hgnet_tiny.pt"
IMGSZ = (64, 96)  # the golden reference's input (height, width)


def rtdetr_fails(tmp_path: Path, match: str) -> str:
    return fails(load_checkpoint(HGNET), tmp_path, match, imgsz=IMGSZ)


def test_batchnorm_eps_wrong_in_the_fold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Conv+BN folded with the other common eps (1e-5 for the model's 1e-3 and the other way round),
    on a model whose running variances are small: caught where it happens, on the raw queries
    compared as rows."""
    from edgekit.reparam import fusion

    real = fusion.bn_scale_shift

    def wrong_eps(bn: Any) -> Any:
        saved = bn.eps
        bn.eps = 1e-5 if abs(saved - 1e-3) < 1e-9 else 1e-3
        try:
            return real(bn)
        finally:
            bn.eps = saved

    monkeypatch.setattr(fusion, "bn_scale_shift", wrong_eps)
    loaded = small_variances(load_checkpoint(HGNET))
    fails(loaded, tmp_path, r"^pass '(deploy_form|conv_bn)' changed output 0 \(detections\)", imgsz=IMGSZ)


def test_missing_sigmoid_on_query_scores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgekit.contract.decode import topk_end2end
    from edgekit.reparam.heads import QueryHead

    def logits(self: Any, x: torch.Tensor) -> Any:  # the query head's logits taken as probabilities
        boxes, raw = self.model(x)
        return (topk_end2end(boxes, raw, self.max_det),)

    monkeypatch.setattr(QueryHead, "forward", logits)
    rtdetr_fails(tmp_path, r"^pass 'end2end' changed output 0 \(detections\)")


def test_grid_sample_corners_aligned_in_the_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exported deformable attention samples with ``align_corners=1`` (PyTorch's is 0): every
    sampling point moves by half a cell; the exported model's check must catch it."""
    import onnx

    import edgekit.converters.stages as stages

    real = stages.export_onnx

    def aligned(module: Any, path: Path, *args: Any) -> Any:
        result = real(module, path, *args)
        model = onnx.load(str(path))
        nodes = [n for n in model.graph.node if n.op_type == "GridSample"]
        assert nodes, "no GridSample in the export"
        for node in nodes:
            for attr in node.attribute:
                if attr.name == "align_corners":
                    attr.i = 1
        onnx.save(model, str(path))
        return result

    monkeypatch.setattr(stages, "export_onnx", aligned)
    rtdetr_fails(tmp_path, r"^(openvino|onnxruntime) fp32 \(model\.\w+\): ")


def test_letterbox_instead_of_stretch_in_the_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RT-DETR stretches each image to its input (``RTDETRPredictor``: ``scale_fill``); a bundle
    that letterboxes feeds it other pixels."""
    import edgekit.converters.stages as stages

    real = stages.Preprocess

    def letterbox(resize: str, pad_value: int, color: str, scale: float) -> Any:
        return real("letterbox", pad_value, color, scale)

    monkeypatch.setattr(stages, "Preprocess", letterbox)
    message = rtdetr_fails(tmp_path, r"^(openvino|onnxruntime) fp32 \(model\.\w+\): preprocess:")
    assert "pixel levels" in message


def test_the_unfaulted_rtdetr_conversion_passes(tmp_path: Path) -> None:
    assert convert(load_checkpoint(HGNET), tmp_path / "b.edgekit", imgsz=IMGSZ).is_dir()
