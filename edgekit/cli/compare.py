"""``edgekit compare A B``: run two models on the same inputs and compare every output.

In the manner of Polygraphy's ``run``: A and B may each be a bundle (``BUNDLE`` for its first
model, ``BUNDLE:openvino`` for another), an ONNX file, an OpenVINO IR (``.xml``), a ``.tflite``
file or a checkpoint (``.pt`` / ``.pth``; compared through the family's reference decode against
the other side's output roles, which must come from a bundle). Both take the same float input
(pixels scaled as the model expects, on the 0-255 grid so that a uint8-input model sees exactly
the same pixels); outputs are matched by name (by role for a checkpoint) and compared through
``edgekit.verify``: by their role's bounds, or elementwise ``|a - b| <= atol + rtol |b|`` when
``--atol`` / ``--rtol`` are given. Exits 1 naming the first output that differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import click
import numpy as np

from edgekit.bundle.io import MANIFEST_NAME
from edgekit.bundle.manifest import Manifest
from edgekit.errors import InputFileError, VerificationError
from edgekit.verify import OutputCheck, bounds_for, check_output
from edgekit.verify.detections import describe as describe_matches
from edgekit.vocab import VERIFY_PRECISIONS

Infer = Callable[[np.ndarray], Dict[str, np.ndarray]]
CHECKPOINT_SUFFIXES = (".pt", ".pth")


class Source:
    """One side of a comparison: a name, an input size, ``run(x) -> outputs`` and, where known,
    the manifest (roles, layouts) of its outputs."""

    def __init__(self, spec: str, name: str, size: Tuple[int, int], run: Infer, manifest: Optional[Manifest]):
        self.spec, self.name, self.size, self.run, self.manifest = spec, name, size, run, manifest

    @property
    def roles(self) -> Dict[str, str]:
        return {o.name: o.role for o in self.manifest.outputs} if self.manifest else {}

    @property
    def layouts(self) -> Dict[str, str]:
        return {o.name: o.layout for o in self.manifest.outputs} if self.manifest else {}


def _split(spec: str) -> Tuple[Path, Optional[str]]:
    """``path[:backend]`` (a Windows drive letter is not a backend)."""
    head, sep, tail = spec.rpartition(":")
    if sep and head and "/" not in tail and "\\" not in tail and not Path(spec).exists():
        return Path(head), tail
    return Path(spec), None


def bundle_source(path: Path, backend: Optional[str], spec: str, as_built: Optional[bool] = None) -> Source:
    """A bundle's model in ``backend``. An artifact built on the device (TensorRT's ONNX) runs as
    its engine where that backend imports (``as_built=None``) or is asked for (``True``), else its
    ONNX in the reference backend."""
    import dataclasses

    from edgekit.backends import BACKENDS
    from edgekit.bundle import read_bundle
    from edgekit.converters.int8 import float_interface, runnable
    from edgekit.detector import Detector

    bundle = read_bundle(path)
    artifact = bundle.manifest.artifact(backend)
    if as_built is None:
        as_built = BACKENDS.get(artifact.backend).importable() is not None
    run = artifact if as_built else runnable(artifact)
    det = Detector(
        type(bundle)(bundle.root, dataclasses.replace(bundle.manifest, artifacts=(run,))), threads=1
    )
    m = det.manifest
    how = "" if run is artifact else f" (its ONNX in {run.backend})"
    return Source(
        spec,
        f"{artifact.backend} {artifact.precision}{how}",
        (m.input.height, m.input.width),
        float_interface(det),
        m,
    )


def _onnx(path: Path, spec: str, marks: Sequence[str]) -> Source:
    from edgekit._optional import require

    ort = require("onnxruntime", "onnx")
    data: Any = str(path)
    if marks:
        from edgekit.calibration.accuracy import with_outputs

        data = with_outputs(path, marks)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    names = [o.name for o in session.get_outputs()]
    manifest = _manifest_beside(path)
    pixel_scale = np.float32(manifest.preprocess.scale if manifest else 1.0 / 255.0)
    pixels = "uint8" in inp.type  # a host-interface model takes the 0-255 levels themselves

    def run(x: np.ndarray) -> Dict[str, np.ndarray]:
        feed = np.round(x / pixel_scale).astype(np.uint8) if pixels else x
        return dict(zip(names, session.run(names, {inp.name: feed})))

    return Source(spec, "onnxruntime", tuple(inp.shape[2:4]), run, manifest)


def _openvino(path: Path, spec: str) -> Source:
    from edgekit._optional import require

    ov = require("openvino", "openvino")
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    shape = compiled.inputs[0].get_partial_shape()

    def run(x: np.ndarray) -> Dict[str, np.ndarray]:
        out = compiled(x)
        return {o.get_any_name(): np.asarray(out[o]) for o in compiled.outputs}

    return Source(
        spec, "openvino", (shape[2].get_length(), shape[3].get_length()), run, _manifest_beside(path)
    )


def _tflite(path: Path, spec: str) -> Source:
    from edgekit.runtimes.litert import interpreter_class

    interp = interpreter_class()(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    outs = interp.get_output_details()

    def run(x: np.ndarray) -> Dict[str, np.ndarray]:
        interp.set_tensor(inp["index"], x.transpose(0, 2, 3, 1) if inp["shape"][-1] == 3 else x)
        interp.invoke()
        return {o["name"]: interp.get_tensor(o["index"]) for o in outs}

    h, w = (inp["shape"][1], inp["shape"][2]) if inp["shape"][-1] == 3 else (inp["shape"][2], inp["shape"][3])
    return Source(spec, "tflite", (int(h), int(w)), run, _manifest_beside(path))


def _manifest_beside(path: Path) -> Optional[Manifest]:
    """The manifest beside a model file (its output roles), if any; its other files need not exist."""
    import json

    from edgekit.errors import ManifestError

    file = path.parent / MANIFEST_NAME
    if not file.is_file():
        return None
    try:
        return Manifest.from_dict(json.loads(file.read_text(encoding="utf-8")))
    except (ValueError, ManifestError):
        return None


def _checkpoint(path: Path, spec: str, like: Source) -> Source:
    """A checkpoint's outputs in the other side's output form: the family's reference decode."""
    from edgekit._optional import require

    if like.manifest is None:
        raise InputFileError(path, "a checkpoint is compared against a bundle (its output roles)")
    torch = require("torch", "convert")
    from edgekit.converters.verify_bundle import expected_outputs_by_role
    from edgekit.models.loader import load_checkpoint

    loaded = load_checkpoint(path)
    model = loaded.model.float().eval()
    manifest = like.manifest

    def run(x: np.ndarray) -> Dict[str, np.ndarray]:
        with torch.no_grad():
            return expected_outputs_by_role(model, loaded.info.head, x, manifest)

    return Source(spec, f"PyTorch ({loaded.info.family} {loaded.info.variant})", like.size, run, manifest)


def open_source(spec: str, marks: Sequence[str], like: Optional[Source] = None) -> Source:
    """A ``Source`` for ``spec`` (a bundle[:backend], model file or checkpoint)."""
    path, backend = _split(spec)
    if not path.exists():
        raise InputFileError(path, "no such file or bundle")
    if path.is_dir():
        return bundle_source(path, backend, spec)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return _onnx(path, spec, marks)
    if suffix == ".xml":
        return _openvino(path, spec)
    if suffix == ".tflite":
        return _tflite(path, spec)
    if suffix in CHECKPOINT_SUFFIXES and like is not None:
        return _checkpoint(path, spec, like)
    kinds = "a bundle folder, .onnx, .xml, .tflite or (against a bundle) a .pt/.pth checkpoint"
    raise InputFileError(path, f"not a model edgekit compares ({kinds})")


def generated_inputs(size: Tuple[int, int], count: int, scale: float, seed: int = 0) -> List[np.ndarray]:
    """``count`` real-looking (B=1, 3, H, W) float inputs on the 0-255 pixel grid times ``scale``."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for _ in range(count):
        a = rng.uniform(0, 255, (3, 3))
        img = a[:, 0, None, None] + a[:, 1, None, None] * xx / w + a[:, 2, None, None] * yy / h
        for _ in range(6):  # filled rectangles: edges and flat regions
            y0, x0 = rng.integers(0, h), rng.integers(0, w)
            img[:, y0 : y0 + rng.integers(4, h // 2 + 5), x0 : x0 + rng.integers(4, w // 2 + 5)] = (
                rng.uniform(0, 255, (3, 1, 1))
            )
        out.append((np.round(np.clip(img, 0, 255)) * np.float32(scale)).astype(np.float32)[None])
    return out


def _elementwise(name: str, role: str, a: np.ndarray, b: np.ndarray, atol: float, rtol: float) -> OutputCheck:
    row = check_output(name, role, a, b, bounds_for("fp32"))
    if a.shape != b.shape:
        return row
    diff = np.abs(a.astype(np.float64) - b)
    allowed = atol + rtol * np.abs(b.astype(np.float64))
    row.bound, row.worst = f"|d| <= {atol:g} + {rtol:g}|b|", float(np.max(diff / np.maximum(allowed, 1e-30)))
    row.ok = bool(np.all(diff <= allowed))
    row.problem = "" if row.ok else f"max |d| {row.max_abs:.3g} exceeds {row.bound}"
    return row


def compare_sources(
    a: Source, b: Source, inputs: Sequence[np.ndarray], precision: str, tol: Optional[Tuple[float, float]]
) -> Tuple[List[OutputCheck], Dict[str, np.ndarray], Optional[Dict[str, Any]]]:
    """Rows (worst over ``inputs``) for every output both sides have, B taken as the reference, and
    the decoded detections matched both ways (None where a side has no manifest to decode by)."""
    from edgekit.verify import merge

    bounds = bounds_for(precision)
    roles = {**a.roles, **b.roles}
    layouts = {**a.layouts, **b.layouts}
    rows, saved, pairs = [], {}, []
    for i, x in enumerate(inputs):
        got, want = a.run(x), b.run(x)
        common = [n for n in want if n in got]
        if not common:
            raise VerificationError(
                f"{a.spec} and {b.spec} share no output name (A: {', '.join(got)}; B: {', '.join(want)})"
            )
        saved[f"input/{i}"] = x
        saved.update({f"A/{n}/{i}": got[n] for n in got})
        saved.update({f"B/{n}/{i}": want[n] for n in want})
        pairs.append((got, want))
        per_input = []
        for n in common:
            role = roles.get(n, "raw")
            if tol is None:
                per_input.append(check_output(n, role, got[n], want[n], bounds, layouts.get(n, "BNC")))
            else:
                per_input.append(_elementwise(n, role, got[n], want[n], *tol))
        rows.append(per_input)
    return merge(rows), saved, detections_matched(a, b, pairs, bounds)


def detections_matched(
    a: Source, b: Source, pairs: Sequence[Tuple[Dict[str, np.ndarray], Dict[str, np.ndarray]]], bounds: Any
) -> Optional[Dict[str, Any]]:
    """A's decoded detections against B's on every input (``edgekit.verify.agreement``), each side
    decoded by its own manifest; None when either has none or its outputs are not decodable."""
    if a.manifest is None or b.manifest is None:
        return None
    from edgekit.converters.verify_bundle import decode_floor, verify_iou
    from edgekit.decoding import DecodeOptions, Geometry, make_decoder
    from edgekit.verify import Dets, agreement

    geometry = Geometry(1.0, 1.0, 0.0, 0.0, a.size)  # the inputs are network-size already
    decode_a, decode_b = make_decoder(a.manifest), make_decoder(b.manifest)
    iou = max(verify_iou(a.manifest), verify_iou(b.manifest))

    def decoded(conf: float, max_det: int) -> List[Tuple[Any, Any, float]]:
        opts = DecodeOptions(conf, iou, max_det)
        return [
            (Dets.of(decode_b(want, [geometry], opts)[0]), Dets.of(decode_a(got, [geometry], opts)[0]), 1.0)
            for got, want in pairs
        ]

    try:
        return agreement(decoded, bounds, max(decode_floor(a.manifest), decode_floor(b.manifest)))
    except (KeyError, ValueError, IndexError):  # a file whose manifest beside it names other outputs
        return None


def table(rows: Sequence[OutputCheck]) -> str:
    """The per-output table ``compare`` prints."""
    head = f"{'output':<16} {'role':<12} {'max abs':>10} {'max rel':>10} {'cosine':>10} {'SNR dB':>7}  result"
    lines = [head, "-" * len(head)]
    for r in rows:
        verdict = "ok" if r.ok else "DIFFERS"
        worst = f" ({r.worst:.2g}x bound)" if r.worst is not None else ""
        lines.append(
            f"{r.name:<16} {r.role:<12} {r.max_abs:>10.3g} {r.max_rel:>10.3g} {r.cosine:>10.6f} "
            f"{r.snr_db:>7.1f}  {verdict}{worst}: {r.bound}"
        )
    return "\n".join(lines)


def detections_line(dets: Optional[Dict[str, Any]]) -> str:
    """The decoded-detections row under the table."""
    if dets is None:
        return "detections   not compared: a side has no manifest to decode its outputs by"
    verdict = "ok" if dets["ok"] else "DIFFERS"
    return f"detections   {describe_matches(dets)}: {verdict} (rate >= {dets['min_match_rate']:g})"


def _load_inputs(path: Path) -> List[np.ndarray]:
    try:
        with np.load(path) as data:
            keys = sorted(k for k in data.files if k.startswith("input/")) or list(data.files)
            arrays = [np.asarray(data[k], np.float32) for k in keys]
    except (OSError, ValueError) as exc:
        raise InputFileError(path, f"not a readable .npz of inputs ({exc})") from exc
    bad = [a.shape for a in arrays if a.ndim != 4]
    if not arrays or bad:
        raise InputFileError(path, f"inputs must be (1, 3, H, W) float arrays, got {bad or 'none'}")
    return arrays


@click.command("compare")
@click.argument("model_a")
@click.argument("model_b")
@click.option("--images", "count", type=int, default=2, show_default=True, help="Generated inputs.")
@click.option("--load-inputs", type=click.Path(), help="Inputs from an .npz (as --save-outputs writes).")
@click.option("--save-outputs", type=click.Path(), help="Write inputs and both sides' outputs to an .npz.")
@click.option(
    "--precision",
    type=click.Choice(VERIFY_PRECISIONS),
    default="fp32",
    show_default=True,
    help="Whose bounds apply.",
)
@click.option(
    "--atol", type=float, help="Elementwise: |a - b| <= atol + rtol |b| instead of the role bounds."
)
@click.option("--rtol", type=float, help="See --atol.")
@click.option("--mark", "marks", multiple=True, help="An ONNX tensor to compare too (repeatable).")
def compare(
    model_a: str,
    model_b: str,
    count: int,
    load_inputs: Optional[str],
    save_outputs: Optional[str],
    precision: str,
    atol: Optional[float],
    rtol: Optional[float],
    marks: Tuple[str, ...],
) -> None:
    """Run MODEL_A and MODEL_B (B is the reference) on the same inputs and compare every output."""
    first_is_ckpt = _split(model_a)[0].suffix.lower() in CHECKPOINT_SUFFIXES
    if first_is_ckpt:
        b = open_source(model_b, marks)
        a = open_source(model_a, marks, like=b)
    else:
        a = open_source(model_a, marks)
        b = open_source(model_b, marks, like=a)
    if a.size != b.size:
        raise VerificationError(f"{a.spec} takes {a.size} but {b.spec} takes {b.size}: not comparable")
    manifest = a.manifest or b.manifest
    scale = manifest.preprocess.scale if manifest else 1.0 / 255.0
    inputs = _load_inputs(Path(load_inputs)) if load_inputs else generated_inputs(a.size, count, scale)
    tol = None if atol is None and rtol is None else (atol or 0.0, rtol or 0.0)
    rows, saved, dets = compare_sources(a, b, inputs, precision, tol)
    click.echo(
        f"A: {a.spec} ({a.name})\nB: {b.spec} ({b.name})\n{len(inputs)} inputs of {a.size[0]}x{a.size[1]}"
    )
    click.echo(table(rows))
    click.echo(detections_line(dets))
    if save_outputs:
        np.savez(save_outputs, **saved)
        click.echo(f"saved inputs and outputs to {save_outputs}")
    bad = next((r for r in rows if not r.ok), None)
    if bad is not None:
        raise VerificationError(f"output '{bad.name}' differs: {bad.problem}")
    if dets is not None and not dets["ok"]:
        raise VerificationError(f"decoded detections differ: {describe_matches(dets)}")
    click.echo(f"all {len(rows)} outputs match" + (", and their detections" if dets else ""))
