"""PyTorch -> TFLite (LiteRT) with litert-torch, no TensorFlow: FP32, FP16 weights, INT8 (ai-edge-quantizer).

``pip install "edgekit-detect[tflite-convert]"``. The reparameterized module is lowered directly (not
via ONNX), so the .tflite has the same outputs, in the same order, as the ONNX export.
"""

from __future__ import annotations

import contextlib
import io
import re
import time
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from edgekit._optional import require
from edgekit.errors import ConversionError, first_line

#: LiteRT ops that carry the network's weights (the float-scope walk stops at them)
WEIGHTED_TFLITE_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL")

TFLITE_NAME = "model.tflite"
TFLITE_PRECISIONS = ("fp32", "fp16", "int8")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """litert-torch prints a progress line per conversion stage to stdout, and torch's pytree
    deprecation warnings; keep the log readable."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


def unsupported_op(module: Any, sample: Any) -> Optional[str]:
    """The first op of ``module`` LiteRT cannot lower, as ``"op (layer)"``, or None when all can.

    Replays litert-torch's own decompositions and looks every op up in its lowering registry
    (private modules: any change in their layout returns None and the converter's error stands).
    """
    torch = require("torch")
    try:
        from litert_torch import fx_infra
        from litert_torch.backend import lowerings

        exported = torch.export.export(module.eval(), (sample,))
        exported = fx_infra.safe_run_decompositions(exported, fx_infra.decomp.pre_convert_decomp())
        exported = fx_infra.safe_run_decompositions(exported, fx_infra.decomp.pre_lower_decomp())
    except Exception:  # noqa: BLE001 - the private API moved, or export itself fails
        return None
    for node in exported.graph.nodes:
        if node.op != "call_function" or "getitem" in str(node.target):
            continue
        if lowerings.lookup(node.target) is None:
            stack = node.meta.get("nn_module_stack") or {}
            layer = list(stack.values())[-1][0] if stack else ""
            return f"{node.target} (layer {layer or 'top level'!s}, node {node.name})"
    return None


def convert_float(module: Any, sample: Any, dest: Path) -> Dict[str, Any]:
    """Lower ``module`` (eval mode) for input ``sample`` and write the FP32 .tflite to ``dest``."""
    litert_torch = require("litert_torch", "tflite-convert")
    started = time.perf_counter()
    try:
        with _quiet():
            edge = litert_torch.convert(module.eval(), (sample,))
            edge.export(str(dest))
    except Exception as exc:  # noqa: BLE001 - lowering errors come in many types
        where = unsupported_op(module, sample)
        if where:
            raise ConversionError(f"LiteRT cannot express {where}: {first_line(exc)}") from None
        raise ConversionError(f"litert-torch cannot convert the model: {first_line(exc)}") from None
    return {"converter": "litert_torch.convert", "seconds": round(time.perf_counter() - started, 1)}


def write_int8_source(b: Any) -> None:
    """The LiteRT backend's ``int8_source`` stage: the FP32 .tflite of the same module, which the
    TFLite quantizer starts from (``edgekit.converters.int8.TFLITE_FP32``; removed afterwards)."""
    from edgekit import progress
    from edgekit.converters.int8 import TFLITE_FP32

    with progress.step("lowering to a FP32 .tflite for the quantizer"):
        convert_float(b.module, b.sample, b.writer.dir / TFLITE_FP32)


def _recipe_fp16() -> Any:
    from ai_edge_quantizer import recipe_manager
    from ai_edge_quantizer.recipe import AlgorithmName, TFLOperationName

    manager = recipe_manager.RecipeManager()
    manager.add_weight_only_config(
        regex=".*",
        operation_name=TFLOperationName.ALL_SUPPORTED,
        num_bits=16,
        algorithm_key=AlgorithmName.FLOAT_CASTING,
    )
    return manager.get_quantization_recipe()


def scope_pattern(tensor_name: str) -> str:
    """ai-edge-quantizer's regex for one op: its scope is its output tensor names, each + ``;``."""
    return "(^|;)" + re.escape(tensor_name) + ";"


def _recipe_int8(float_tensors: Sequence[str]) -> Any:
    """Static int8 (per-channel int8 weights, int8 activations); ops writing ``float_tensors`` stay
    float (the latest matching rule wins in ai-edge-quantizer's recipe manager)."""
    from ai_edge_quantizer import recipe_manager
    from ai_edge_quantizer.recipe import AlgorithmName, TFLOperationName

    manager = recipe_manager.RecipeManager()
    manager.add_static_config(
        regex=".*",
        operation_name=TFLOperationName.ALL_SUPPORTED,
        activation_num_bits=8,
        weight_num_bits=8,
        algorithm_key=AlgorithmName.MIN_MAX_UNIFORM_QUANT,
    )
    for name in float_tensors:
        manager.add_static_config(
            regex=scope_pattern(name),
            operation_name=TFLOperationName.ALL_SUPPORTED,
            activation_num_bits=8,
            weight_num_bits=8,
            algorithm_key=AlgorithmName.NO_QUANTIZE,
        )
    return manager.get_quantization_recipe()


def quantize_tflite(
    source: Path,
    dest: Path,
    precision: str,
    calibration: Optional[Iterable[Any]] = None,
    float_tensors: Sequence[str] = (),
) -> Dict[str, Any]:
    """FP16 weights, or static INT8 with float input/output, of the FP32 .tflite ``source``.

    INT8: ``float_tensors`` (output tensor names, e.g. the decode tail) stay float, and so does
    the graph input (a QUANTIZE op follows it): the runtime feeds and reads float32.
    """
    require("ai_edge_quantizer", "tflite-convert")
    from ai_edge_quantizer import quantizer

    started = time.perf_counter()
    keep: List[str] = []
    if precision == "int8":
        signature, inputs = _signature_input(source)
        keep = [*inputs, *float_tensors]
    recipe = _recipe_fp16() if precision == "fp16" else _recipe_int8(keep)
    try:
        with _quiet():
            q = quantizer.Quantizer(str(source), recipe)
            result = None
            if precision == "int8":
                if calibration is None:
                    raise ConversionError("TFLite INT8 needs calibration data")
                samples = [{signature: x} for x in calibration]
                result = q.calibrate({"serving_default": samples}, num_threads=1)
            q.quantize(result, serialize_to_path=str(dest), enable_progress_report=False)
    except ConversionError:
        raise
    except Exception as exc:  # noqa: BLE001
        message = f"ai-edge-quantizer cannot make a {precision} model: {first_line(exc)}"
        raise ConversionError(message) from None
    return {
        "quantizer": "ai_edge_quantizer",
        "recipe": "float_casting fp16 weights"
        if precision == "fp16"
        else "static wi8/ai8 min-max, float I/O",
        "float_tensors": len(float_tensors),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _signature_input(path: Path) -> Tuple[str, List[str]]:
    """The serving signature's input key and the graph's input tensor names."""
    interpreter = require("ai_edge_litert.interpreter", "tflite").Interpreter(model_path=str(path))
    key = interpreter.get_signature_list()["serving_default"]["inputs"][0]
    return key, [d["name"] for d in interpreter.get_input_details()]


def write_tflite(module: Any, sample: Any, out_dir: Path, precision: str = "fp32") -> str:
    """Write ``model.tflite`` (FP32, or FP16 weights) for ``module`` into ``out_dir``; returns its name."""
    if precision not in ("fp32", "fp16"):
        raise ConversionError(f"TFLite {precision} is written by the INT8 path, not here")
    dest = Path(out_dir) / TFLITE_NAME
    if precision == "fp32":
        convert_float(module, sample, dest)
        return TFLITE_NAME
    source = Path(out_dir) / "model.fp32.tflite"
    convert_float(module, sample, source)
    try:
        quantize_tflite(source, dest, "fp16")
    finally:
        source.unlink(missing_ok=True)
    return TFLITE_NAME


def tflite_float_scope(path: Path) -> Tuple[List[str], List[str]]:
    """Output tensor names of the decode tail and of the head convolutions of a FP32 .tflite.

    The same walk as the ONNX float scope (``edgekit.calibration.float_scope.walk_tail``): back
    from the outputs to the last CONV_2D of each branch; the DFL expectation (a 1-output-channel
    conv with weights 0..n-1) belongs to the tail.
    """
    import numpy as np

    from edgekit.calibration.float_scope import is_arange, walk_tail

    lite = require("ai_edge_litert.interpreter", "tflite")
    interpreter = lite.Interpreter(  # no XNNPACK: the op list must show the ops, not one DELEGATE node
        model_path=str(path),
        experimental_op_resolver_type=lite.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interpreter.allocate_tensors()
    ops = {i: op for i, op in enumerate(interpreter._get_ops_details())}
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    producer = {t: i for i, op in ops.items() for t in op["outputs"]}

    def constant(index: int) -> Optional[np.ndarray]:
        try:
            return interpreter.get_tensor(index)
        except ValueError:
            return None

    def is_dfl(op: dict) -> bool:
        """The DFL expectation: its constant operand is 0..bins-1 (edgekit's MatMul form lowers to
        BATCH_MATMUL or FULLY_CONNECTED, other exporters' 1x1 conv to CONV_2D)."""
        weights = [constant(int(t)) for t in op["inputs"][:2] if t >= 0]
        return any(w is not None and w.ndim > 0 and is_arange(w) for w in weights)

    def stops(i: int) -> bool:
        return ops[i]["op_name"] in WEIGHTED_TFLITE_OPS and not is_dfl(ops[i])

    tail, convs = walk_tail(
        [d["index"] for d in interpreter.get_output_details()],
        producer.get,
        lambda i: [int(t) for t in ops[i]["inputs"] if t >= 0],
        stops,
    )
    return [names[ops[i]["outputs"][0]] for i in tail], [names[ops[i]["outputs"][0]] for i in convs]


def write_artifact(
    writer: Any, onnx_path: Path, backend: str, precision: str, say: Any, module: Any, sample: Any
) -> Any:
    """The LiteRT backend's artifact writer (``Backend.writer``): lowered from the torch ``module``."""
    from edgekit import progress

    started = time.perf_counter()
    with progress.step(f"lowering to TFLite {precision} (LiteRT)"):
        name = write_tflite(module, sample, writer.dir, precision)
    size = (writer.dir / name).stat().st_size
    say(f"wrote TFLite {precision} in {time.perf_counter() - started:.1f}s ({size / 1e6:.2f} MB)")
    return writer.artifact(name, backend, precision)
