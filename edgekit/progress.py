"""Progress of long steps, and third-party output kept quiet, for the converter side.

``edgekit convert`` / ``inspect --plan`` and the Python ``edgekit.convert`` run inside
:func:`session`. In a terminal each long step (:func:`step`) shows one live line on stderr
(rich: spinner, what runs, elapsed time) that is cleared when the step ends; the step's own
summary line follows as without a terminal. Unless ``verbose``, the libraries edgekit drives
(torch, onnxruntime, OpenVINO/NNCF, LiteRT, TensorFlow, absl) keep their warnings, log records,
C++ log lines and ``print`` chatter to themselves; edgekit's own warnings still show.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import warnings
from contextvars import ContextVar
from typing import Any, Dict, Iterator, List, Optional

#: modules whose warnings and loggers are silenced unless verbose
THIRD_PARTY = (
    "torch",
    "torchao",
    "onnx",
    "onnxscript",
    "onnxslim",
    "onnxruntime",
    "openvino",
    "nncf",
    "litert_torch",
    "ai_edge_litert",
    "ai_edge_torch",
    "ai_edge_quantizer",
    "tensorflow",
    "tf_keras",
    "keras",
    "absl",
    "jax",
    "jaxlib",
)
#: C++ logging of TensorFlow / XLA / absl (read when those libraries load): errors only
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "GLOG_minloglevel": "2", "ABSL_MIN_LOG_LEVEL": "2"}


class Session:
    """One run's progress display and verbosity (see :func:`session`)."""

    def __init__(self, progress: bool, verbose: bool) -> None:
        self.progress = progress
        self.verbose = verbose
        self._depth = 0
        self._live: Any = None
        self._task: Any = None

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        self._depth += 1
        try:
            if self._depth > 1:  # nested steps: the outer line and capture stay
                yield
                return
            with contextlib.ExitStack() as stack:
                if not self.verbose:
                    stack.enter_context(native_stderr_captured())
                if self.progress:
                    self._live = stack.enter_context(_live_line())
                    self._task = self._live.add_task(title, total=None)
                try:
                    yield
                finally:
                    self._live = self._task = None
        finally:
            self._depth -= 1

    def note(self, text: str) -> None:
        if self._live is not None:
            self._live.update(self._task, description=text)


def _live_line() -> Any:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    return Progress(*columns, console=Console(file=sys.stderr), transient=True)


@contextlib.contextmanager
def native_stderr_captured() -> Iterator[None]:
    """Send what native code writes to file descriptor 2 (TensorFlow's oneDNN note, absl, LiteRT's
    "INFO: Created TensorFlow Lite XNNPACK delegate") to a scratch file, while Python's
    ``sys.stderr`` (edgekit's warnings, the progress line) keeps writing to the real one. On an
    exception the captured text is written out, so nothing a failure printed is lost."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):  # a test's capture, no real fd
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    python_stderr = sys.stderr
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), fd)
        sys.stderr = open(saved, "w", buffering=1, closefd=False, errors="backslashreplace")  # noqa: SIM115
        try:
            yield
        except BaseException:
            sink.seek(0)
            os.write(saved, sink.read())
            raise
        finally:
            sys.stderr.flush()
            sys.stderr = python_stderr
            os.dup2(saved, fd)
            os.close(saved)


_ACTIVE: ContextVar[Optional[Session]] = ContextVar("edgekit_progress", default=None)


def stderr_is_terminal() -> bool:
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


@contextlib.contextmanager
def session(progress: Optional[bool] = None, verbose: bool = False) -> Iterator[Session]:
    """Run the enclosed work with a progress line per step (``progress`` None: when stderr is a
    terminal) and, unless ``verbose``, third-party output quiet. Nested sessions reuse the outer."""
    outer = _ACTIVE.get()
    if outer is not None:
        yield outer
        return
    current = Session(stderr_is_terminal() if progress is None else bool(progress), verbose)
    token = _ACTIVE.set(current)
    try:
        with contextlib.ExitStack() as stack:
            if not verbose:
                stack.enter_context(_quiet_libraries())
            yield current
    finally:
        _ACTIVE.reset(token)


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    """A long step of the active session (a live line in a terminal); nothing outside a session."""
    current = _ACTIVE.get()
    if current is None:
        yield
        return
    with current.step(title):
        yield


def note(text: str) -> None:
    """Change the active step's line (e.g. ``reparameterizing: pass 3/8, conv_bn``)."""
    current = _ACTIVE.get()
    if current is not None:
        current.note(text)


@contextlib.contextmanager
def chatter() -> Iterator[None]:
    """Around a third-party call that ``print``s progress of its own (onnxruntime's calibrator):
    its stdout is dropped unless the session is verbose (or there is none)."""
    current = _ACTIVE.get()
    if current is None or current.verbose:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


class _Advice(logging.Filter):
    """Records of the root logger that third-party code emits (onnxruntime's quantizer logs its
    pre-processing hint there on every call)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


@contextlib.contextmanager
def _quiet_libraries() -> Iterator[None]:
    saved_env: Dict[str, Optional[str]] = {k: os.environ.get(k) for k in QUIET_ENV}
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    loggers = [logging.getLogger(name) for name in THIRD_PARTY]
    levels: List[int] = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    root, advice = logging.getLogger(), _Advice()
    root.addFilter(advice)
    try:
        with warnings.catch_warnings():
            for name in THIRD_PARTY:
                warnings.filterwarnings("ignore", module=rf"{name}(\.|$)")
            # JAX (loaded with LiteRT's converter) warns at every fork, naming the forking module
            warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
            yield
    finally:
        root.removeFilter(advice)
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
