"""An unpickler that never runs code from the file.

Rule (what the unpickler will build):

1. ``find_class`` never imports anything. A name resolves to
   (a) an entry of the allow-list below (tensor rebuild functions, torch dtypes and storage
       types, ``torch.Size``/``torch.device``, plain containers, numpy arrays/dtypes/scalars,
       ``datetime``, pure paths, ``_codecs.encode`` for bytes), each implemented or wrapped
       here with argument checks; or
   (b) a refusal, raised at once, for any name from a module that can run code
       (``os``, ``posix``, ``subprocess``, ``builtins`` outside the allow-list, ``sys``,
       ``importlib``, ``functools``, ``operator``, ``pickle``, ``torch.jit``, ...); or
   (c) an inert stand-in for any other name (``ultralytics.nn.tasks.DetectionModel``,
       ``torch.nn.modules.conv.Conv2d``).
2. Calls (REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ) are made only to allow-listed callables
   or to a stand-in, and "calling" a stand-in only creates a
   :class:`~edgekit.loading.records.Record`. NEWOBJ/INST/OBJ instantiate a class by
   construction, so any stand-in is accepted there (``v8DetectionLoss`` is a class). REDUCE
   calls an arbitrary callable: a stand-in is accepted only if its name looks like a class
   (has an upper-case letter); a function-like name (``numpy.load``, ``torch.load``,
   ``some.module.helper``) stays an inert reference and calling it is refused.
   BUILD stores the state in the Record (or calls the numpy ``__setstate__`` of an
   array/dtype); nothing else gets ``__setstate__`` called.
3. Pickle extension codes (EXT1/2/4) are refused.

So the safety does not depend on the deny-list (a foreign class is never imported, even
``subprocess.Popen`` would only become a Record); the deny-list only turns a payload into a
clear :class:`~edgekit.errors.UnsafeCheckpointError` instead of a meaningless Record.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
from collections import OrderedDict
from typing import Any, BinaryIO, Callable, ClassVar, Dict, Optional

from edgekit.errors import UnsafeCheckpointError
from edgekit.loading.pickle_allowlist import (
    RECORDED_CLASSES,
    Corrupt,
    LoadedStorage,
    SafeCall,
    StandIn,
    StorageType,
    TensorType,
    Unsupported,
    allowed_globals,
    is_dangerous,
    rebuild_parameter,
    rebuild_tensor,
)
from edgekit.loading.records import Record

__all__ = [
    "NOTHING_RAN",
    "Corrupt",
    "LoadedStorage",
    "SafeUnpickler",
    "StorageType",
    "Unsupported",
    "rebuild_tensor",
    "unpickle",
]

NOTHING_RAN = "nothing was executed"
PersistentLoad = Callable[[Any], Any]


class SafeUnpickler(pickle._Unpickler):  # the pure-Python unpickler: every opcode is ours to check
    """Unpickle with the rule of this module. ``path`` names the file in errors."""

    dispatch: ClassVar[Dict[int, Any]] = dict(pickle._Unpickler.dispatch)

    def __init__(
        self,
        file: BinaryIO,
        path: str,
        persistent_load: Optional[PersistentLoad] = None,
        nested: Optional[Callable[[bytes], Any]] = None,
    ) -> None:
        """``nested`` reads a checkpoint held in bytes (``torch.storage._load_from_bytes``)."""
        super().__init__(file, encoding="latin1")
        self.path = path
        self._persistent = persistent_load
        self._nested = nested
        self.table = dict(allowed_globals())
        self.table["torch._tensor._rebuild_from_type_v2"] = SafeCall(
            "torch._tensor._rebuild_from_type_v2", self._rebuild_from_type_v2
        )
        # plain pickle.dumps of a tensor stores each storage as a small torch.save archive
        self.table["torch.storage._load_from_bytes"] = SafeCall(
            "torch.storage._load_from_bytes", self._from_bytes
        )

    # -- refusing --
    def refuse(self, what: str, why: str = "") -> None:
        detail = f" ({why})" if why else ""
        raise UnsafeCheckpointError(
            self.path, f"unsafe checkpoint: refuses to execute {what} while unpickling{detail}; {NOTHING_RAN}"
        )

    # -- names --
    def find_class(self, module: str, name: str) -> Any:
        if not isinstance(module, str) or not isinstance(name, str):
            raise Corrupt("bad global name")
        if self.proto < 3:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        qualname = f"{module}.{name}"
        if qualname in self.table:
            return self.table[qualname]
        if qualname in RECORDED_CLASSES:
            return StandIn(module, name)
        if is_dangerous(module):
            self.refuse(qualname, "it names code that can run commands or import modules")
        return StandIn(module, name)

    # -- calls --
    def call(
        self, func: Any, args: Any, kwargs: Optional[Dict[str, Any]] = None, instantiate: bool = False
    ) -> Any:
        """Apply ``func`` under the rule; ``instantiate`` marks NEWOBJ/INST/OBJ (a class by construction)."""
        kwargs = kwargs or {}
        if not isinstance(args, tuple) and isinstance(args, list):
            args = tuple(args)
        if not isinstance(args, tuple) or not isinstance(kwargs, dict):
            raise Corrupt("bad call arguments")
        if isinstance(func, StandIn):
            if func.is_class or instantiate:
                return Record(func.qualname, args, kwargs=dict(kwargs))
            self.refuse(func.qualname, "only allow-listed constructors and records of classes are built")
        if isinstance(func, SafeCall):
            try:
                return func.fn(*args, **kwargs)
            except (TypeError, ValueError, RuntimeError, OverflowError) as exc:
                raise Corrupt(f"{func.qualname}: {exc}") from None
        if isinstance(func, TensorType) and func.parameter:
            return rebuild_parameter(*args[:1])
        self.refuse(f"a call to {type(func).__name__} {func!r:.60}", "not an allow-listed constructor")
        return None  # unreachable

    def load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        self.stack[-1] = self.call(func, args)

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self.call(cls, args, instantiate=True))

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self.call(cls, args, kwargs, instantiate=True))

    def _instantiate(self, klass: Any, args: Any) -> None:
        self.append(self.call(klass, tuple(args), instantiate=True))

    def load_build(self) -> None:
        import numpy as np

        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, Record):
            inst.__setstate__(state)
        elif isinstance(inst, (np.ndarray, np.dtype)):
            try:
                inst.__setstate__(state)
            except (TypeError, ValueError) as exc:
                raise Corrupt(f"numpy state: {exc}") from None
        elif isinstance(inst, (OrderedDict, dict)) and isinstance(state, dict) and hasattr(inst, "__dict__"):
            # torch state dicts carry ``_metadata`` as an attribute of the OrderedDict
            inst.__dict__.update(
                {k: v for k, v in state.items() if isinstance(k, str) and not k.startswith("__")}
            )
        else:
            raise Corrupt(f"cannot set state of {type(inst).__name__}")

    def _rebuild_from_type_v2(self, func: Any, new_type: Any, args: Any, state: Any = None) -> Any:
        value = self.call(func, args)
        if isinstance(new_type, TensorType) and new_type.parameter:
            value = rebuild_parameter(value)
        return value  # python attributes of tensor subclasses are dropped

    def _from_bytes(self, data: Any) -> LoadedStorage:
        if not isinstance(data, bytes) or self._nested is None:
            raise Corrupt("bad embedded storage")
        storage = self._nested(data)  # read by the same safe reader
        if not isinstance(storage, LoadedStorage):
            raise Corrupt("embedded archive is not a storage")
        return storage

    def get_extension(self, code: int) -> None:
        self.refuse(f"pickle extension code {code}", "extension registry lookups are not allowed")

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent is None:
            raise Corrupt("persistent id in a plain pickle")
        return self._persistent(pid)

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.BUILD[0]] = load_build


def unpickle(
    data: bytes,
    path: str,
    persistent_load: Optional[PersistentLoad] = None,
    nested: Optional[Callable[[bytes], Any]] = None,
) -> Any:
    """Unpickle ``data`` safely. Raises UnsafeCheckpointError, or Corrupt / pickle errors."""
    return SafeUnpickler(io.BytesIO(data), path, persistent_load, nested).load()
