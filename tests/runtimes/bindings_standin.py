"""A stand-in module generated from a dump of real bindings (``tests/data/tensorrt_api/*.json``).

``standin(dump)`` builds a module-like object whose classes, enums, members and signatures are
exactly those the real TensorRT / cuda-python release has: a missing attribute or enum member
raises ``AttributeError``, a call that fits none of the pybind11 / Cython signatures (arity,
keyword names, enum and class argument types) raises ``TypeError``, a read-only property refuses
assignment. What the calls *return* comes from ``behave`` (``{"Class.member": value or
callable}``), else from the signature's return type (a fresh object of that class, ``True`` for
``bool``, ...). Every call is recorded in ``.calls`` as ``("Class.member", args)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

DUMPS = Path(__file__).resolve().parents[1] / "data" / "tensorrt_api"
INT_TYPES = {"int", "typing.SupportsInt", "size_t", "unsigned long long", "unsigned int", "long"}
SHAPE_TYPES = {"Dims", "Dims32", "Dims64", "DimsHW", "tuple", "list", "collections.abc.Sequence[int]"}
_MISSING = object()


def load_dump(name: str) -> Dict[str, Any]:
    """A committed dump by file stem, e.g. ``tensorrt-10.16.1.11`` or ``cuda-12.6.0``."""
    return json.loads((DUMPS / f"{name}.json").read_text())


def dumps(prefix: str) -> List[str]:
    """The stems of every committed dump starting with ``prefix`` (``tensorrt-``, ``cuda-``)."""
    return sorted(p.stem for p in DUMPS.glob(f"{prefix}*.json"))


class _Meta(type):
    """Class-level lookups (``trt.BuilderFlag.FP16``, ``trt.Logger.WARNING``) follow the dump."""

    def __getattr__(cls, name: str) -> Any:
        mod = cls._module
        spec = cls._spec
        if name in spec.get("members", {}):
            return mod._enum_value(cls, name, spec["members"][name])
        entry = spec.get("attributes", {}).get(name)
        if entry is None:
            raise AttributeError(f"type object '{cls.__name__}' has no attribute '{name}' ({mod.label})")
        if entry["kind"] == "value":  # an exported enum value, e.g. Logger.WARNING
            owner = mod._class(entry["type"])
            return getattr(owner, name)
        if entry["kind"] in ("class", "enum"):
            return mod._class(f"{cls._qualname}.{name}", entry)
        raise AttributeError(f"{cls.__name__}.{name} is an instance member ({mod.label})")


class FakeObject(metaclass=_Meta):
    _module: Any = None
    _spec: Dict[str, Any] = {}  # noqa: RUF012 - replaced per generated class
    _qualname = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        init = self._spec.get("attributes", {}).get("__init__")
        if init is not None and not self._module._internal:
            self._module._check(f"{self._qualname}.__init__", init, args, kwargs)
        object.__setattr__(self, "_values", {})

    def _member(self, name: str) -> Optional[Dict[str, Any]]:
        for cls in type(self).__mro__:
            entry = getattr(cls, "_spec", {}).get("attributes", {}).get(name)
            if entry is not None:
                return entry
        return None

    def __getattr__(self, name: str) -> Any:
        entry = self._member(name)
        mod = self._module
        if entry is None:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}' ({mod.label})")
        key = f"{self._qualname}.{name}"
        if name in self.__dict__.get("_values", {}):
            return self._values[name]
        if entry["kind"] == "property":
            return mod._result(key, entry.get("type", ""), (self,))
        if entry["kind"] in ("method", "static"):
            return lambda *a, **k: mod._call(key, entry, a, k, self if entry["kind"] == "method" else None)
        return getattr(type(self), name)

    def __setattr__(self, name: str, value: Any) -> None:
        entry = self._member(name)
        if entry is None or entry["kind"] != "property":
            raise AttributeError(
                f"'{type(self).__name__}' object has no attribute '{name}' ({self._module.label})"
            )
        if not entry.get("writable"):
            raise AttributeError(f"{type(self).__name__}.{name} is read-only ({self._module.label})")
        if not self._module._fits(entry.get("type", ""), value):
            raise TypeError(
                f"{type(self).__name__}.{name}: incompatible value {value!r} ({self._module.label})"
            )
        self._module.calls.append((f"{self._qualname}.{name}=", (value,)))
        self._values[name] = value


class FakeEnum(FakeObject):
    name = ""
    value = 0

    def __int__(self) -> int:
        return self.value

    __index__ = __int__

    def __eq__(self, other: Any) -> bool:
        return type(other) is type(self) and other.value == self.value

    def __hash__(self) -> int:
        return hash((self._qualname, self.value))

    def __repr__(self) -> str:
        return f"<{self._qualname}.{self.name}: {self.value}>"


class StandIn:
    """The module: top-level names from the dump, ``behave`` for results, ``calls`` recorded."""

    def __init__(self, dump: Dict[str, Any], behave: Optional[Dict[str, Any]] = None) -> None:
        self._api = dump["api"]
        self.label = f"{dump['package']} {dump['wheel_version']}"
        self.behave = dict(behave or {})
        self.calls: List[Tuple[str, Tuple[Any, ...]]] = []
        self._classes: Dict[str, type] = {}
        self._enums: Dict[Tuple[str, str], Any] = {}
        self._internal = False
        version = self._api.get("__version__", {}).get("value", dump["wheel_version"])
        self.__version__ = version

    def __getattr__(self, name: str) -> Any:
        entry = self._api.get(name)
        if entry is None:
            raise AttributeError(f"module has no attribute '{name}' ({self.label})")
        if entry["kind"] in ("class", "enum"):
            return self._class(name, entry)
        if entry["kind"] == "function":
            return lambda *a, **k: self._call(name, entry, a, k, None)
        return entry.get("value")

    # ---- classes and enums ----------------------------------------------------------

    def _class(self, qualname: str, spec: Optional[Dict[str, Any]] = None) -> type:
        if qualname not in self._classes:
            spec = spec if spec is not None else self._lookup(qualname)
            bases = tuple(self._class(b) for b in spec.get("bases", []) if self._lookup(b, None) is not None)
            root = FakeEnum if spec["kind"] == "enum" else FakeObject
            body: Dict[str, Any] = {"_module": self, "_spec": spec, "_qualname": qualname}
            if spec["kind"] == "class" and "__int__" in spec.get("attributes", {}):  # handles: cudaStream_t
                body["__int__"] = body["__index__"] = lambda obj: id(obj)
            self._classes[qualname] = _Meta(
                qualname.split(".")[-1], (*bases, root) if bases else (root,), body
            )
        return self._classes[qualname]

    def _lookup(self, qualname: str, default: Any = _MISSING) -> Any:
        parts = qualname.split(".")
        entry = self._api.get(parts[0])
        for part in parts[1:]:
            entry = (entry or {}).get("attributes", {}).get(part)
        if entry is None and default is _MISSING:
            raise AttributeError(f"no class {qualname} ({self.label})")
        return entry if entry is not None else default

    def _enum_value(self, cls: type, name: str, value: int) -> Any:
        key = (cls._qualname, name)
        if key not in self._enums:
            self._internal = True
            try:
                member = cls()
            finally:
                self._internal = False
            object.__setattr__(member, "name", name)
            object.__setattr__(member, "value", value)
            self._enums[key] = member
        return self._enums[key]

    def new(self, qualname: str) -> Any:
        """An object of ``qualname`` as the bindings would hand it out (no constructor check)."""
        self._internal = True
        try:
            return self._class(qualname)()
        finally:
            self._internal = False

    # ---- calls ----------------------------------------------------------------------

    def _call(self, key: str, entry: Dict[str, Any], args: Tuple, kwargs: Dict, obj: Any) -> Any:
        sig = self._check(key, entry, args, kwargs)
        self.calls.append((key, tuple(args) + tuple(kwargs.values())))
        returns = sig.get("returns", "") if sig else ""
        return self._result(key, returns, ((obj,) if obj is not None else ()) + tuple(args), kwargs)

    def _result(self, key: str, returns: str, args: Tuple, kwargs: Optional[Dict] = None) -> Any:
        if key in self.behave:
            value = self.behave[key]
            return (
                value(*args, **(kwargs or {})) if callable(value) and not isinstance(value, type) else value
            )
        if returns in ("bool",):
            return True
        if returns in INT_TYPES:
            return 0
        if returns in ("str",):
            return ""
        if returns and self._lookup(returns, None) is not None:
            return self.new(returns)
        return None

    def _check(self, key: str, entry: Dict[str, Any], args: Tuple, kwargs: Dict) -> Optional[Dict]:
        sigs = entry.get("signatures") or []
        if not sigs:
            return None
        for sig in sigs:
            params = [p for p in sig["params"] if p["name"] != "self"]
            if self._binds(params, args, kwargs):
                return sig
        shown = " | ".join("(" + ", ".join(p["name"] for p in s["params"]) + ")" for s in sigs)
        raise TypeError(f"{key}(): incompatible arguments {args!r} {kwargs!r}; takes {shown} ({self.label})")

    def _binds(self, params: List[Dict[str, Any]], args: Tuple, kwargs: Dict) -> bool:
        if any(p.get("variadic") for p in params):
            return True
        if len(args) > len(params):
            return False
        bound = dict(zip((p["name"] for p in params), args))
        for name, value in kwargs.items():
            if name in bound or name not in {p["name"] for p in params}:
                return False
            bound[name] = value
        for p in params:
            if p["name"] not in bound:
                if not p.get("default"):
                    return False
            elif not self._fits(p.get("type", ""), bound[p["name"]]):
                return False
        return True

    def _fits(self, type_name: str, value: Any) -> bool:
        """pybind11's argument conversion, as far as the code under test needs it."""
        if not type_name or type_name in ("object", "typing.Any"):
            return True
        if type_name in INT_TYPES:
            return (
                not isinstance(value, (float, str, bytes)) and value is not None and hasattr(value, "__int__")
            )
        if type_name == "float":
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if type_name == "bool":
            return isinstance(value, bool)
        if type_name == "str":
            return isinstance(value, str)
        if type_name in ("bytes", "buffer", "collections.abc.Buffer"):
            return isinstance(value, (bytes, bytearray, memoryview))
        if type_name in SHAPE_TYPES:
            return isinstance(value, (tuple, list)) and all(isinstance(v, int) for v in value)
        cls = self._lookup(type_name, None)
        if cls is None:
            return True  # a type outside the dump (numpy, capsules, ...): not checked
        return isinstance(value, self._class(type_name))


def standin(name: str, behave: Optional[Dict[str, Any]] = None) -> StandIn:
    """The stand-in for the committed dump ``name`` (see ``dumps``)."""
    return StandIn(load_dump(name), behave)
