"""``Detector``: a bundle + a backend + the manifest's preprocessing and decoder, in one call."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np

from edgekit._closing import Closing
from edgekit.backends import BACKENDS, REFERENCE
from edgekit.bundle import Bundle, read_bundle
from edgekit.bundle.integrity import check_files
from edgekit.decoding import DecodeOptions, Detections, Preprocessor, load_image, make_decoder
from edgekit.errors import BackendError, MissingDependencyError, NoSuchModelError
from edgekit.runtimes import open_runtime

ImageLike = Union[str, Path, np.ndarray]


class Detector(Closing):
    """Run a bundle on images.

    >>> det = Detector("yolo11n-cpu.edgekit", threads=2)
    >>> result = det("street.jpg")            # or a HxWx3 BGR numpy array
    >>> result.xyxy, result.confidence, result.names

    ``backend`` picks one of the bundle's models (default: the one ``edgekit benchmark`` measured
    fastest on this machine, else the first whose backend imports);
    ``conf``, ``iou``, ``max_det``, ``classes`` (ids or names), ``agnostic`` and ``multi_label``
    (every class above ``conf`` of an anchor enters NMS, as in Ultralytics' val; NMS-free and
    in-graph NMS outputs are per class already) override the manifest's decoder defaults, also
    per call. ``verify`` checks the model file against the
    sha256 of the manifest (hashed once, then remembered while its size and mtime stay the same).
    """

    def __init__(
        self,
        bundle: Union[str, Path, Bundle],
        backend: Optional[str] = None,
        threads: Optional[int] = None,
        conf: Optional[float] = None,
        iou: Optional[float] = None,
        max_det: Optional[int] = None,
        classes: Optional[Iterable[Union[int, str]]] = None,
        agnostic: Optional[bool] = None,
        multi_label: Optional[bool] = None,
        verify: bool = True,
        **runtime_options: Any,
    ) -> None:
        self.bundle = bundle if isinstance(bundle, Bundle) else read_bundle(bundle)
        self.manifest = self.bundle.manifest
        self.note: Optional[str] = None  # how the model is run, where not the obvious way
        artifact = self._artifact(backend)
        if verify:  # the model file against its sha256, remembered by size + mtime (bundle.integrity)
            check_files(self.bundle.root, [artifact], use_cache=True)
        m = self.manifest = self.manifest.for_artifact(artifact)  # its own integer I/O, if any
        self.artifact = artifact  # the model file opened (its backend, path and precision)
        self.backend = artifact.backend
        if artifact.precision in BACKENDS.get(artifact.backend).precision_hints[1:]:
            runtime_options = {"precision": artifact.precision, **runtime_options}  # FP32 model, bf16 hint
        self.runtime = open_runtime(
            artifact.backend, self.bundle.root / artifact.path, m.input, m.outputs, threads, **runtime_options
        )
        self.preprocess = Preprocessor(m.preprocess, m.input)
        self.decoder = make_decoder(m)
        d = m.decoder
        self.options = DecodeOptions(d.conf_threshold, d.iou_threshold, d.max_det, d.agnostic)
        self.options = self._options(
            conf=conf, iou=iou, max_det=max_det, classes=classes, agnostic=agnostic, multi_label=multi_label
        )
        self.timings: Dict[str, float] = {}

    @property
    def class_names(self) -> Sequence[str]:
        return self.manifest.class_names

    def _artifact(self, backend: Optional[str]) -> Any:
        """The model to run: ``backend``'s, else the default (``_first_runnable``).

        The reference backend (``edgekit.backends.REFERENCE``) also runs the ONNX of a model built
        on the device (a Jetson bundle's FP32 or INT8 Q/DQ ONNX, the file the engine is built
        from), as the conversion itself verified it.
        """
        if backend is None:
            return self._first_runnable()
        arts = {a.backend: a for a in self.manifest.artifacts}
        onnx = self._device_built_onnx()
        if backend not in arts and backend == REFERENCE and onnx is not None:
            precision = "int8" if onnx.precision == "int8" else "fp32"  # an fp16 engine builds from FP32
            title = BACKENDS.get(onnx.backend).title
            self.note = f"running the {title} model's ONNX ({onnx.path}, {precision}) in {REFERENCE}"
            return replace(onnx, backend=REFERENCE, precision=precision)
        if backend not in arts:
            raise NoSuchModelError(
                f"{self.bundle.root}: has no {backend} model (it has: {', '.join(arts)}); "
                "pick one of those with --backend (Detector(backend=...))"
            )
        return arts[backend]

    def _first_runnable(self) -> Any:
        """The backend ``edgekit benchmark`` found fastest here, else the first one that imports."""
        from edgekit.bundle.choice import recorded_backend

        runnable = [
            art
            for art in self.manifest.artifacts
            if BACKENDS.get(art.backend).importable()  # the manifest reader checked the name
        ]
        if runnable:
            fastest = recorded_backend(self.bundle.root)
            return next((art for art in runnable if art.backend == fastest), runnable[0])
        first = self.manifest.artifacts[0]
        module = BACKENDS.get(first.backend).module
        if self._device_built_onnx() is first:
            where = f", which comes with {module.note}," if module.note else ""
            raise BackendError(
                f"{self.bundle.root}: its model is for {BACKENDS.get(first.backend).title}{where} and is "
                "not importable here; to run its ONNX on this machine's CPU instead, pass "
                f"--backend {REFERENCE} (Detector(backend='{REFERENCE}'))"
            )
        raise MissingDependencyError(module.name, module.extra, "to run this bundle")

    def _device_built_onnx(self) -> Any:
        """The artifact of a backend that builds its model on the device from an ONNX, if any."""
        arts = self.manifest.artifacts  # their backend names were checked by the manifest reader
        return next(
            (a for a in arts if BACKENDS.get(a.backend).built_on_device and a.path.endswith(".onnx")), None
        )

    def _options(self, **overrides: Any) -> DecodeOptions:
        changes = {k: v for k, v in overrides.items() if v is not None}
        if "classes" in changes:
            names = list(self.class_names)
            try:
                changes["classes"] = tuple(
                    names.index(c) if isinstance(c, str) else int(c) for c in changes["classes"]
                )
            except ValueError as exc:
                raise BackendError(f"unknown class name: {exc}") from None
        return replace(self.options, **changes) if changes else self.options

    def __call__(self, image: ImageLike, color: str = "BGR", **overrides: Any) -> Detections:
        """Detect objects in one image (a path or a HxWxC array in ``color`` order)."""
        return self.batch([image], color=color, **overrides)[0]

    def batch(self, images: Sequence[ImageLike], color: str = "BGR", **overrides: Any) -> List[Detections]:
        """Detect objects in several images (batched when the model has a dynamic batch)."""
        opts = self._options(**overrides)
        results: List[Detections] = []
        step = len(images) if self.runtime.dynamic_batch else (self.manifest.input.batch or 1)
        for start in range(0, len(images), step):
            chunk = [load_image(i) if isinstance(i, (str, Path)) else i for i in images[start : start + step]]
            results.extend(self._run(chunk, color, opts))
        return results

    def _run(self, images: List[np.ndarray], color: str, opts: DecodeOptions) -> List[Detections]:
        t0 = time.perf_counter()
        if len(images) == 1:
            x, geo = self.preprocess(images[0], color)
            geometries = [geo]
        else:
            x = np.empty((len(images), *self.preprocess._input.shape[1:]), self.preprocess._input.dtype)
            geometries = [self.preprocess(img, color, out=x[i])[1] for i, img in enumerate(images)]
        t1 = time.perf_counter()
        outputs = self.runtime.infer(x, self.decoder.needs(opts))
        t2 = time.perf_counter()
        results = self.decoder(outputs, geometries, opts)
        for result, image in zip(results, images):
            result.keep_image(image, color)  # for plot() / save(); a reference, not a copy
        t3 = time.perf_counter()
        self.timings = {
            "preprocess": (t1 - t0) * 1e3,
            "inference": (t2 - t1) * 1e3,
            "decode": (t3 - t2) * 1e3,
        }
        return results

    def stream(self, source: Any, **options: Any) -> Any:
        """Run on a video, camera, stream URL, GStreamer string or images: ``for r in det.stream(src)``.

        Returns an ``edgekit.pipeline.Stream`` (options: ``sinks``, ``stats_every``, ``max_frames``,
        ``reconnect``, ``max_retries``, ... and decoder overrides such as ``conf``).
        """
        from edgekit.pipeline import run_pipeline

        return run_pipeline(self, source, **options)

    def close(self) -> None:
        self.runtime.close()
