"""``CalibrationData``: N deterministic samples of a source, preprocessed exactly like the runtime."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Union

import numpy as np

from edgekit import progress
from edgekit.bundle.manifest import Manifest
from edgekit.calibration.sources import Skipped, discover
from edgekit.decoding.images import load_image, try_cv2
from edgekit.decoding.preprocess import Preprocessor
from edgekit.errors import CalibrationError, EdgekitError
from edgekit.vocab import CALIB_IMAGES, CALIB_RECOMMENDED


class CalibrationWarning(UserWarning):
    """The calibration set is smaller than recommended."""


class CalibrationData:
    """Calibration inputs from ``source`` for the model described by ``manifest``.

    ``source``: an image folder (recursive; jpg/png/bmp/webp), a video file (frames sampled),
    a YOLO dataset yaml (``split``: train, else val) or a COCO json (images under ``image_root``).
    ``count`` samples are drawn with ``seed`` (same seed, same order), from position ``start`` of
    that order (``start=N`` gives images disjoint from a ``count=N`` set); unreadable files are skipped,
    counted in ``skipped`` and replaced by further candidates. Iterating yields ready input tensors
    ``(1, 3, H, W)`` made by the runtime's own ``Preprocessor``.
    """

    def __init__(
        self,
        source: Union[str, Path],
        manifest: Any,
        count: int = CALIB_IMAGES,
        seed: int = 0,
        split: Optional[str] = None,
        image_root: Optional[Union[str, Path]] = None,
        progress: bool = False,
        min_recommended: int = CALIB_RECOMMENDED,
        start: int = 0,
    ) -> None:
        if count < 1:
            raise CalibrationError(f"the number of calibration images must be >= 1, got {count}")
        self.manifest: Manifest = getattr(manifest, "manifest", manifest)  # a Bundle or a Manifest
        self.source = Path(source)
        self.count = int(count)
        self.seed = int(seed)
        self.progress = progress
        found = discover(self.source, split, Path(image_root) if image_root else None)
        self.kind = found.kind
        self._found_skipped: List[Skipped] = list(found.skipped)
        self._read_skipped: List[Skipped] = []
        rng = np.random.default_rng(self.seed)
        if found.video is not None:
            frames = video_frame_count(found.video)
            picked = rng.permutation(frames)[max(0, int(start)) :][: self.count]
            self._order: List[Any] = sorted(int(i) for i in picked)  # sequential decoding
            self.candidates = frames
        else:
            self._order = [found.images[i] for i in rng.permutation(len(found.images))][max(0, int(start)) :]
            self.candidates = len(found.images)
        if not self._order:
            if start:
                raise CalibrationError(f"{self.source}: no images left after the first {start}")
            raise CalibrationError(f"{self.source}: no calibration images found ({self.kind} source)")
        self.warnings: List[str] = []
        planned = min(self.count, len(self._order))
        if planned < min_recommended:
            message = (
                f"{self.source}: only {planned} calibration images (at least {min_recommended} recommended, "
                f"{CALIB_IMAGES} by default): INT8 scales from few images lose accuracy"
            )
            self.warnings.append(message)
            warnings.warn(message, CalibrationWarning, stacklevel=2)
        self._pre = Preprocessor(self.manifest.preprocess, self.manifest.input)

    def __len__(self) -> int:
        """The number of samples planned (fewer if too many candidates turn out unreadable)."""
        return min(self.count, len(self._order))

    @property
    def input_name(self) -> str:
        return self.manifest.input.name

    @property
    def skipped(self) -> int:
        """Files left out: not images, missing, or unreadable (of the last pass)."""
        return len(self._found_skipped) + len(self._read_skipped)

    @property
    def skipped_files(self) -> List[Skipped]:
        return self._found_skipped + self._read_skipped

    def images(self) -> Iterator[np.ndarray]:
        """The sampled images, HxWx3 uint8 BGR, in sampling order."""
        self._read_skipped = []
        produced = 0
        source = self._video_frames() if self.kind == "video" else self._image_files()
        for image in source:
            yield image
            produced += 1
            if produced >= self.count:
                break
        if produced == 0:
            raise CalibrationError(f"{self.source}: none of the {self.candidates} candidates could be read")

    def _image_files(self) -> Iterator[np.ndarray]:
        for path in self._order:
            try:
                yield load_image(path)
            except EdgekitError as exc:
                self._read_skipped.append(Skipped(str(path), getattr(exc, "problem", str(exc))))

    def _video_frames(self) -> Iterator[np.ndarray]:
        cv2 = _cv2(self.source)
        cap = cv2.VideoCapture(str(self.source))
        try:
            wanted = iter(self._order)
            target = next(wanted, None)
            index = 0
            while target is not None:
                if not cap.grab():
                    self._read_skipped.extend(
                        Skipped(f"{self.source}#{i}", "frame could not be decoded") for i in [target, *wanted]
                    )
                    return
                if index == target:
                    ok, frame = cap.retrieve()
                    if ok and frame is not None:
                        yield frame
                    else:
                        self._read_skipped.append(
                            Skipped(f"{self.source}#{index}", "frame could not be decoded")
                        )
                    target = next(wanted, None)
                index += 1
        finally:
            cap.release()

    def __iter__(self) -> Iterator[np.ndarray]:
        """Ready input tensors, ``(1, 3, H, W)`` (or the manifest's layout and dtype), fresh arrays."""
        for image in _progress(self.images(), len(self), self.progress, f"calibration ({self.source.name})"):
            x, _ = self._pre(image, color="BGR")
            yield x.copy()

    def report(self) -> Dict[str, Any]:
        """Figures for a manifest or a log: source, counts, seed, skipped files, warnings."""
        return {
            "source": self.source.name,
            "kind": self.kind,
            "requested": self.count,
            "candidates": self.candidates,
            "planned": len(self),
            "seed": self.seed,
            "skipped": self.skipped,
            "skipped_files": [s.to_dict() for s in self.skipped_files[:20]],
            "warnings": list(self.warnings),
        }

    # ---- adapters --------------------------------------------------------------------

    def onnxruntime_reader(self) -> Any:
        """onnxruntime ``CalibrationDataReader``: ``get_next() -> {input: tensor}`` or None, ``rewind()``."""
        from edgekit.calibration.adapters import OrtCalibrationReader

        return OrtCalibrationReader(self)

    def nncf_dataset(self) -> Any:
        """An ``nncf.Dataset`` of the input tensors (NNCF imported only here)."""
        from edgekit.calibration.adapters import nncf_dataset

        return nncf_dataset(self)


def readable_images(source: Union[str, Path], wanted: int, split: Optional[str] = None) -> Dict[str, int]:
    """Decode ``source``'s candidates until ``wanted`` read (a video: count its frames).

    Cheap enough to run before any export, so that an unusable calibration set is refused first.
    Returns ``readable`` (at most ``wanted``), ``skipped`` (not images or undecodable, of those
    tried) and ``candidates``.
    """
    found = discover(Path(source), split)
    if found.video is not None:
        frames = video_frame_count(found.video)
        return {"readable": min(frames, wanted), "skipped": 0, "candidates": frames}
    if not found.images:
        raise CalibrationError(f"{source}: no calibration images found ({found.kind} source)")
    readable, skipped = 0, len(found.skipped)
    for path in found.images:
        if readable >= wanted:
            break
        try:
            load_image(path)
            readable += 1
        except EdgekitError:
            skipped += 1
    return {"readable": readable, "skipped": skipped, "candidates": len(found.images)}


def _cv2(path: Path) -> Any:
    cv2 = try_cv2()
    if cv2 is None:
        from edgekit.errors import MissingDependencyError

        raise MissingDependencyError("cv2", "cv", f"needed to read the video {path}")
    return cv2


def video_frame_count(path: Path) -> int:
    """Frames in a video (counted by decoding when the container does not say)."""
    cv2 = _cv2(path)
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise CalibrationError(f"{path}: not a readable video")
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if count <= 0:
            while cap.grab():
                count += 1
        return count
    finally:
        cap.release()


def _progress(items: Iterator[np.ndarray], total: int, enabled: bool, title: str) -> Iterator[np.ndarray]:
    """Count ``items`` on the conversion's live line (``edgekit.progress``) when enabled."""
    if not enabled:
        return items

    def counted() -> Iterator[np.ndarray]:
        for i, item in enumerate(items, 1):
            progress.note(f"{title}: image {i}/{total}")
            yield item

    return counted()
