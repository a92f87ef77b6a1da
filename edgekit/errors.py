"""Exception hierarchy.

``EdgekitError`` and its subclasses are *user* errors: a bad file, an unsupported
target, a missing optional dependency. The CLI prints them as one line and exits
non-zero. Any other exception is an internal bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Optional


def first_line(exc: BaseException) -> str:
    """The first line of a third-party exception's message (its type name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def pip_install(extra: str) -> str:
    """The exact command that installs ``extra`` (with the distribution's real name)."""
    from edgekit import DISTRIBUTION

    return f'pip install "{DISTRIBUTION}[{extra}]"'


class EdgekitError(Exception):
    """Base class of every user-facing error. ``exit_code`` is used by the CLI."""

    exit_code = 1


class InputFileError(EdgekitError):
    """A file given by the user is missing, unreadable, corrupt or of the wrong kind."""

    exit_code = 2

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class UnsafeCheckpointError(InputFileError):
    """A checkpoint tried to execute code while being read. Nothing was executed."""


class ManifestError(InputFileError):
    """A bundle manifest is missing, corrupt or violates the schema."""


class UnsupportedTargetError(EdgekitError):
    """An unknown target name or a flag that contradicts the target's profile."""


class UnsupportedModelError(EdgekitError):
    """A checkpoint that edgekit recognises but cannot convert (yet)."""


class MissingDependencyError(EdgekitError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, module: str, extra: str, reason: Optional[str] = None) -> None:
        self.module = module
        self.extra = extra
        what = f" ({reason})" if reason else ""
        super().__init__(f"the optional dependency '{module}' is not installed{what}: {pip_install(extra)}")


class ImageError(EdgekitError):
    """An input image that cannot be used (empty, wrong channel count, unreadable)."""


class CalibrationError(EdgekitError):
    """Calibration data is missing, empty or unusable."""


class ConversionError(EdgekitError):
    """An export step failed for a reason the user can act on."""


class VerificationError(EdgekitError):
    """A converted or reparameterized model no longer matches its source."""


class UnknownNameError(EdgekitError, KeyError):
    """A name that no registry holds (a family, runtime, decoder, pass); a ``KeyError`` too."""

    def __str__(self) -> str:  # KeyError quotes its argument; a user reads the plain sentence
        return str(self.args[0]) if self.args else "unknown name"


class NoSuchModelError(EdgekitError, KeyError):
    """A bundle has no model for the requested backend (a ``KeyError`` too, for lookups)."""

    def __str__(self) -> str:  # KeyError quotes its argument; a user reads the plain sentence
        return str(self.args[0]) if self.args else "no such model"


class BackendError(EdgekitError):
    """A runtime backend refused the model or the input."""


class TensorRtVersionError(BackendError):
    """The installed TensorRT is a major version edgekit does not build with, or the bundle lacks
    what that version needs (TensorRT 11: an FP16 ONNX for an FP16 engine)."""
