"""What the safe unpickler may build: allow-listed globals, deny-listed modules, stand-ins.

See :mod:`edgekit.loading.safe_pickle` for the rule. Every allow-listed callable is edgekit's own
implementation (or a real constructor of a plain value) wrapped with argument checks; the real
``torch._utils`` rebuild functions are never called (they would attach pickled hooks).
"""

from __future__ import annotations

import contextlib
import datetime
import pathlib
from collections import Counter, OrderedDict
from typing import Any, Callable, Dict, Optional, Tuple

# Modules whose names are refused outright (prefix match on the dotted module path).
DANGEROUS_MODULES = (
    "os", "posix", "nt", "subprocess", "_posixsubprocess", "sys", "shutil", "importlib", "imp",
    "socket", "runpy", "code", "codeop", "pty", "ctypes", "_ctypes", "cffi", "pickle", "_pickle",
    "cPickle", "copy_reg", "marshal", "types", "functools", "_functools", "operator", "_operator",
    "builtins", "__builtin__", "io", "_io", "codecs", "multiprocessing", "threading", "_thread",
    "asyncio", "signal", "webbrowser", "pdb", "bdb", "timeit", "trace", "profile", "cProfile",
    "tempfile", "glob", "shlex", "platform", "urllib", "http", "ftplib", "smtplib", "telnetlib",
    "requests", "zipimport", "pkgutil", "site", "sysconfig", "distutils", "setuptools", "pip",
    "inspect", "gc", "weakref", "ast", "dis", "linecache", "tokenize", "zipfile", "tarfile",
    "dill", "cloudpickle", "joblib", "yaml", "jinja2", "fcntl", "resource", "mmap", "select",
    "selectors", "ssl", "_winapi", "msvcrt", "winreg", "ctypes", "pydoc", "doctest", "unittest",
    "torch.jit", "torch.hub", "torch._C", "torch.ops", "torch.package", "torch.distributed",
    "torch.serialization", "torch.utils.cpp_extension", "torch._dynamo", "torch.compiler",
    "torch.multiprocessing", "torch.classes", "torch._ops", "torch.fx", "torch.export",
    "numpy.lib.npyio", "numpy.testing", "numpy.f2py", "numpy.distutils", "numpy.ctypeslib",
)  # fmt: skip

# Class names of harmless containers from otherwise refused modules: kept as Records.
RECORDED_CLASSES = {"types.SimpleNamespace", "argparse.Namespace"}


class StandIn:
    """An inert reference to a global that was not imported."""

    __slots__ = ("is_class", "qualname")

    def __init__(self, module: str, name: str) -> None:
        self.qualname = f"{module}.{name}"
        self.is_class = name != name.lower() or self.qualname in RECORDED_CLASSES

    def __repr__(self) -> str:
        return f"<{'class' if self.is_class else 'reference'} {self.qualname} (not imported)>"


class SafeCall:
    """An allow-listed callable: our own implementation with argument checks."""

    __slots__ = ("fn", "qualname")

    def __init__(self, qualname: str, fn: Callable[..., Any]) -> None:
        self.qualname = qualname
        self.fn = fn

    def __repr__(self) -> str:
        return f"<allow-listed {self.qualname}>"


class StorageType:
    """A torch storage class named in a checkpoint (``torch.HalfStorage``), as its dtype."""

    def __init__(self, dtype: Any) -> None:
        self.dtype = dtype


class TensorType:
    """``torch.Tensor`` / ``torch.nn.Parameter`` named as the type of ``_rebuild_from_type_v2``."""

    def __init__(self, parameter: bool) -> None:
        self.parameter = parameter


class LoadedStorage:
    """A storage read from the file: an untyped byte storage and the dtype it was saved as."""

    def __init__(self, untyped: Any, dtype: Any) -> None:
        self.untyped = untyped
        self.dtype = dtype


class Corrupt(Exception):
    """Internal: the pickle is malformed (turned into an InputFileError by the reader)."""


class Unsupported(Exception):
    """Internal: a well-formed object edgekit does not read (quantized or sparse tensors)."""


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise Corrupt(what)


def _ints(seq: Any, what: str) -> Tuple[int, ...]:
    _need(isinstance(seq, (tuple, list)) and all(type(v) is int for v in seq), f"bad {what}")
    return tuple(seq)


# ---------------------------------------------------------------- tensor rebuilding
def rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, dtype: Any = None) -> Any:
    import torch

    _need(isinstance(storage, LoadedStorage), "tensor without a storage")
    _need(type(offset) is int and offset >= 0, "bad storage offset")
    size, stride = _ints(size, "tensor size"), _ints(stride, "tensor stride")
    _need(len(size) == len(stride) and all(v >= 0 for v in size + stride), "bad tensor shape")
    dtype = storage.dtype if dtype is None else dtype
    _need(isinstance(dtype, torch.dtype), "bad tensor dtype")
    itemsize = torch.empty((), dtype=dtype).element_size()
    n_items = storage.untyped.nbytes() // itemsize
    if all(v > 0 for v in size):
        last = offset + sum((s - 1) * st for s, st in zip(size, stride))
        _need(last < n_items, "tensor extends past the end of its storage (truncated file?)")
        numel = 1
        for v in size:
            numel *= v
        _need(numel <= max(n_items, 1 << 28), "implausible tensor size (expanded far beyond its storage)")
    return torch.empty((0,), dtype=dtype).set_(storage.untyped, offset, size, stride)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    return rebuild_tensor(storage, offset, size, stride)


def _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype, metadata=None):
    return rebuild_tensor(storage, offset, size, stride, dtype)


def rebuild_parameter(data: Any, requires_grad: Any = False, hooks: Any = None, state: Any = None) -> Any:
    import torch

    _need(isinstance(data, torch.Tensor), "parameter without a tensor")
    return torch.nn.Parameter(data, requires_grad=False)


# ---------------------------------------------------------------- plain values
def _container(kind: type) -> Callable[..., Any]:
    def build(*args: Any) -> Any:
        _need(len(args) <= 1, f"bad {kind.__name__} arguments")
        if args:
            _need(
                isinstance(args[0], (list, tuple, dict, set, frozenset, str, bytes)), f"bad {kind.__name__}"
            )
        return kind(*args)

    return build


def _scalar_of(kind: type) -> Callable[..., Any]:
    def build(*args: Any) -> Any:
        _need(all(isinstance(a, (int, float, str, bytes, bool)) for a in args), f"bad {kind.__name__}")
        return kind(*args)

    return build


def _codecs_encode(text: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    _need(isinstance(text, str) and encoding in ("latin1", "latin-1", "utf-8", "utf8"), "bad bytes")
    return text.encode(encoding)


def _bytes_like(kind: type) -> Callable[..., Any]:
    def build(*args: Any) -> Any:
        _need(all(isinstance(a, (bytes, str, bytearray)) for a in args), f"bad {kind.__name__}")
        return kind(*args)

    return build


def _defaultdict(*args: Any) -> Dict[Any, Any]:
    return {}  # the default factory is dropped: a plain dict never calls anything


def _path(kind: str) -> Callable[..., Any]:
    pure = pathlib.PureWindowsPath if "Windows" in kind else pathlib.PurePosixPath

    def build(*parts: Any) -> Any:
        _need(all(isinstance(p, str) for p in parts), "bad path")
        return pure(*parts)

    return build


def _datetime(kind: type) -> Callable[..., Any]:
    ok = (int, float, str, bytes, datetime.timedelta, datetime.timezone, type(None))

    def build(*args: Any) -> Any:
        _need(all(isinstance(a, ok) for a in args), f"bad {kind.__name__}")
        return kind(*args)

    return build


def _torch_size(*args: Any) -> Any:
    import torch

    _need(len(args) == 1, "bad torch.Size")
    return torch.Size(_ints(args[0], "torch.Size"))


def _torch_device(*args: Any) -> Any:
    import torch

    _need(all(isinstance(a, (str, int)) for a in args), "bad torch.device")
    return torch.device(*args)


def _np_reconstruct(subtype: Any, shape: Any, dtype_code: Any) -> Any:
    import numpy as np

    _need(subtype is np.ndarray, "numpy array of a foreign subtype")
    shape = _ints(shape, "numpy shape")
    _need(0 in shape, "numpy array placeholder with data")  # numpy writes (0,); the data comes in BUILD
    return np.ndarray.__new__(np.ndarray, shape, dtype_code)


def _np_dtype(*args: Any) -> Any:
    import numpy as np

    _need(args and isinstance(args[0], str) and all(isinstance(a, (str, bool, int)) for a in args), "dtype")
    return np.dtype(*args)


def _np_scalar(dtype: Any, data: Any = None) -> Any:
    import numpy as np

    _need(isinstance(dtype, np.dtype) and dtype.kind != "O" and isinstance(data, bytes), "bad numpy scalar")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _unsupported(qualname: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise Unsupported(f"it holds tensors edgekit does not read ({qualname})")

    return refuse


UNSUPPORTED_TORCH = (
    "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_sparse_tensor",
    "torch._utils._rebuild_sparse_csr_tensor",
    "torch._utils._rebuild_nested_tensor",
    "torch._utils._rebuild_wrapper_subclass",
    "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._utils._rebuild_device_tensor_from_numpy",
    "torch._utils._rebuild_device_tensor_from_cpu_tensor",
    "torch.serialization._get_layout",
)

_ALLOWED: Optional[Dict[str, Any]] = None


def allowed_globals() -> Dict[str, Any]:
    """``"module.name"`` -> value or :class:`SafeCall` (built once, torch/numpy imported here)."""
    global _ALLOWED
    if _ALLOWED is not None:
        return _ALLOWED
    import numpy as np
    import torch

    table: Dict[str, Any] = {}

    def call(qualname: str, fn: Callable[..., Any]) -> None:
        table[qualname] = SafeCall(qualname, fn)

    for name in dir(torch):
        value = getattr(torch, name, None)
        if isinstance(value, torch.dtype):
            table[f"torch.{name}"] = value
        if name.endswith("Storage") and name not in ("TypedStorage", "UntypedStorage"):
            with contextlib.suppress(KeyError, AttributeError):
                table[f"torch.{name}"] = StorageType(torch.storage._get_dtype_from_pickle_storage_type(name))
    for name in ("torch.UntypedStorage", "torch.storage.UntypedStorage", "torch.storage.TypedStorage"):
        table[name] = StorageType(torch.uint8)
    for name in ("torch.Tensor", "torch._tensor.Tensor"):
        table[name] = TensorType(parameter=False)
    table["torch.nn.parameter.Parameter"] = TensorType(parameter=True)
    call("torch._utils._rebuild_tensor", rebuild_tensor)
    call("torch._utils._rebuild_tensor_v2", _rebuild_tensor_v2)
    call("torch._utils._rebuild_tensor_v3", _rebuild_tensor_v3)
    call("torch._utils._rebuild_parameter", rebuild_parameter)
    call("torch._utils._rebuild_parameter_with_state", rebuild_parameter)
    for qualname in UNSUPPORTED_TORCH:
        call(qualname, _unsupported(qualname))
    call("torch.Size", _torch_size)
    call("torch.device", _torch_device)
    call("collections.OrderedDict", _container(OrderedDict))
    call("collections.Counter", _container(Counter))
    call("collections.defaultdict", _defaultdict)
    for kind in (set, frozenset, tuple, list, dict):
        call(f"builtins.{kind.__name__}", _container(kind))
    for kind in (int, float, complex, str, bool, slice, range):
        call(f"builtins.{kind.__name__}", _scalar_of(kind))
    call("builtins.bytes", _bytes_like(bytes))
    call("builtins.bytearray", _bytes_like(bytearray))
    call("_codecs.encode", _codecs_encode)
    table["builtins.object"] = object
    table["builtins.NoneType"] = type(None)
    for kind in ("Path", "PosixPath", "WindowsPath", "PurePath", "PurePosixPath", "PureWindowsPath"):
        call(f"pathlib.{kind}", _path(kind))
    for dt in (datetime.datetime, datetime.date, datetime.time, datetime.timedelta, datetime.timezone):
        call(f"datetime.{dt.__name__}", _datetime(dt))
    for core in ("numpy.core", "numpy._core"):
        call(f"{core}.multiarray._reconstruct", _np_reconstruct)
        call(f"{core}.multiarray.scalar", _np_scalar)
    table["numpy.ndarray"] = np.ndarray
    call("numpy.dtype", _np_dtype)
    _ALLOWED = table
    return table


def is_dangerous(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in DANGEROUS_MODULES)
