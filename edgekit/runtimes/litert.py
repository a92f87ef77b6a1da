"""LiteRT (TFLite) backend: ``ai-edge-litert``, else ``tflite_runtime``, else ``tensorflow.lite``.

``pip install "edgekit-detect[tflite]"``. XNNPACK (LiteRT's default CPU delegate) runs the model with
``threads`` threads. Outputs are matched to the manifest by signature order (``output_0``, ...).
Integer inputs/outputs named with their quantization in the manifest (``--int8-io``) pass through
as integers (preprocessing and decoder apply the manifest's scale and zero point, checked against
the model's at load); any other integer tensor is (de)quantized here with the model's parameters.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, List, Optional

import numpy as np

from edgekit.bundle.manifest import Quantization
from edgekit.decoding.preprocess import dequantize, quantize
from edgekit.errors import BackendError, MissingDependencyError, first_line
from edgekit.runtimes.base import RUNTIMES, Runtime

#: interpreter modules, in order of preference
INTERPRETERS = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite")


def interpreter_class() -> Any:
    """The ``Interpreter`` class of the first LiteRT flavour that imports."""
    for name in INTERPRETERS:
        try:
            return importlib.import_module(name).Interpreter
        except ImportError:
            continue
    raise MissingDependencyError("ai_edge_litert", "tflite", "to run .tflite models")


@RUNTIMES.register("tflite")
class LiteRtRuntime(Runtime):
    """A .tflite model on the CPU (XNNPACK). Options: ``delegates`` (loaded LiteRT delegates)."""

    backend = "tflite"
    accepted_options = ("delegates",)

    def _load(self, path: Path) -> None:
        interpreter = interpreter_class()
        try:
            self.interpreter = interpreter(
                model_path=str(path),
                num_threads=int(self.threads) if self.threads else None,
                experimental_delegates=self.options.get("delegates"),
            )
            self.interpreter.allocate_tensors()
        except Exception as exc:  # noqa: BLE001 - LiteRT raises ValueError/RuntimeError
            raise BackendError(f"{path}: LiteRT cannot load the model ({first_line(exc)})") from None
        signature = self._signature()
        inputs = self.interpreter.get_input_details()
        if len(inputs) != 1:
            raise BackendError(f"{path}: expected one input, the model has {len(inputs)}")
        self._input = inputs[0]
        by_index = {d["index"]: d for d in self.interpreter.get_output_details()}
        ordered = [by_index[i] for i in signature] if signature else list(by_index.values())
        if len(ordered) != len(self.outputs):
            raise BackendError(
                f"{path}: the model has {len(ordered)} outputs, the manifest names {len(self.outputs)}"
            )
        self._outputs = ordered
        self._in_quant = self._quant(self._input)
        self._check_manifest(path, self.inp, self._input)
        self._out_quant: List[Optional[Quantization]] = []
        for spec, detail in zip(self.outputs, ordered):
            self._check_manifest(path, spec, detail)
            # an output the manifest declares quantized goes to the decoder as it is
            self._out_quant.append(None if spec.quantization is not None else self._quant(detail))

    def _signature(self) -> List[int]:
        """Output tensor indices in signature order (output_0, output_1, ...), or [] without one."""
        runner_list = getattr(self.interpreter, "_get_full_signature_list", None)
        full = runner_list() if runner_list else {}
        if not full:
            return []
        outputs = next(iter(full.values()))["outputs"]
        keys = sorted(outputs, key=lambda k: (len(k), k))
        return [outputs[k] for k in keys]

    @staticmethod
    def _quant(detail: dict) -> Optional[Quantization]:
        """The model's quantization of an int8/uint8 tensor; None for a float one."""
        scale, zero = detail.get("quantization", (0.0, 0))
        integer = detail["dtype"] in (np.int8, np.uint8) and scale
        return Quantization(float(scale), int(zero)) if integer else None

    @classmethod
    def _check_manifest(cls, path: Path, spec: Any, detail: dict) -> None:
        """A tensor the manifest declares integer must be that integer type, scale and zero point."""
        q = spec.quantization
        if q is None:
            return
        own = cls._quant(detail)
        scale, zero = (own.scale, own.zero_point) if own is not None else (0.0, 0)
        kind = np.dtype(detail["dtype"]).name
        if kind != spec.dtype or zero != q.zero_point or not np.isclose(scale, q.scale, rtol=1e-6, atol=0):
            raise BackendError(
                f"{path}: {spec.name} is {kind} scale {scale:.6g} zero {zero} in the model, "
                f"the manifest says {spec.dtype} scale {q.scale:.6g} zero {q.zero_point}"
            )

    def _infer_impl(self, x: np.ndarray) -> List[np.ndarray]:
        if self._in_quant is not None and x.dtype.kind == "f":  # float pixels for an integer input
            x = quantize(x, self._in_quant, np.dtype(self._input["dtype"]))
        self.interpreter.set_tensor(self._input["index"], x)
        self.interpreter.invoke()
        results = []
        for detail, q in zip(self._outputs, self._out_quant):
            out = self.interpreter.get_tensor(detail["index"])
            results.append(out if q is None else dequantize(out, q))
        return results

    def close(self) -> None:
        self.interpreter = None  # type: ignore[assignment]
