"""Inert stand-ins for the foreign objects found in pickled checkpoints.

The safe reader (``edgekit.loading.checkpoint``) never imports the classes a checkpoint
names (``ultralytics.nn.tasks.DetectionModel``, ``models.common.RepConvN``, even
``torch.nn.Conv2d``). Each instance becomes a :class:`Record`: the class path, the
constructor arguments and the state ``__setstate__`` would have received. For a pickled
``nn.Module`` that state is its ``__dict__``: ``_modules``, ``_parameters``, ``_buffers``,
``training`` and plain attributes (``f``, ``i``, ``yaml``, ``names``, ``stride``, ``eps``...).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Tuple

if TYPE_CHECKING:
    import torch


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

_MODULE_STATE_KEYS = ("_modules", "_parameters", "_buffers")


@dataclass(eq=False)  # identity equality and hash: records go into sets and dict keys
class Record:
    """An inert record of an instance of a class that was not imported.

    ``args`` are the constructor arguments (NEWOBJ / REDUCE of the class), ``state`` what
    ``__setstate__`` would have received. ``items`` / ``dictitems`` collect list or dict
    contents of container subclasses (APPENDS / SETITEMS).
    """

    cls: str
    args: tuple = ()
    state: Any = None
    kwargs: Dict[str, Any] = field(default_factory=dict)
    items: List[Any] = field(default_factory=list)
    dictitems: Dict[Any, Any] = field(default_factory=dict)

    # -- pickle protocol hooks used by the safe unpickler (never run foreign code) --
    def __setstate__(self, state: Any) -> None:  # called by our BUILD only
        self.state = state

    def append(self, item: Any) -> None:
        self.items.append(item)

    def extend(self, items: Any) -> None:
        self.items.extend(items)

    def add(self, item: Any) -> None:
        self.items.append(item)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.dictitems[key] = value

    # -- queries --
    @property
    def _dict_state(self) -> Dict[str, Any]:
        state = self.state
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            merged: Dict[str, Any] = {}
            for part in state:
                if isinstance(part, Mapping):
                    merged.update(part)
            return merged
        return state if isinstance(state, dict) else {}

    @property
    def is_module(self) -> bool:
        """True if this is a pickled ``torch.nn.Module`` (its state has ``_modules`` etc.)."""
        return any(k in self._dict_state for k in _MODULE_STATE_KEYS)

    def attr(self, name: str, default: Any = MISSING) -> Any:
        """A plain attribute, else a parameter, buffer or child module (like ``nn.Module``)."""
        state = self._dict_state
        if name in state:
            return state[name]
        for key in _MODULE_STATE_KEYS:
            sub = state.get(key)
            if isinstance(sub, Mapping) and name in sub:
                return sub[name]
        if default is MISSING:
            raise AttributeError(f"{self.cls} record has no attribute '{name}'")
        return default

    def has(self, name: str) -> bool:
        return self.attr(name, None) is not None

    def children(self) -> OrderedDict[str, Record]:
        """Direct child modules (``_modules`` without ``None`` entries)."""
        mods = self._dict_state.get("_modules")
        out: OrderedDict[str, Record] = OrderedDict()
        if isinstance(mods, Mapping):
            for name, child in mods.items():
                if isinstance(child, Record):
                    out[str(name)] = child
        return out

    def module_path_name(self) -> str:
        """The short class name, e.g. ``"RepConvN"``."""
        return self.cls.rsplit(".", 1)[-1]

    def parameters(self) -> OrderedDict[str, Any]:
        params = self._dict_state.get("_parameters")
        return OrderedDict((k, v) for k, v in params.items() if v is not None) if params else OrderedDict()

    def buffers(self, persistent_only: bool = True) -> OrderedDict[str, Any]:
        state = self._dict_state
        bufs = state.get("_buffers") or {}
        skip = (state.get("_non_persistent_buffers_set") or set()) if persistent_only else set()
        return OrderedDict((k, v) for k, v in bufs.items() if v is not None and k not in skip)

    def __repr__(self) -> str:
        kids = len(self.children())
        extra = f", {kids} children" if kids else ""
        return f"Record({self.cls}{extra})"


def iter_records(rec: Record, prefix: str = "") -> Iterator[Tuple[str, Record]]:
    """``named_modules`` of a module record: ``(dotted name, record)``, the root first as ``prefix``."""
    seen: set = set()
    stack: List[Tuple[str, Record]] = [(prefix, rec)]
    while stack:
        name, node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield name, node
        kids = [(f"{name}.{k}" if name else k, v) for k, v in node.children().items()]
        stack.extend(reversed(kids))


def to_fp32(value: torch.Tensor) -> torch.Tensor:
    """Detach; cast FP16/BF16 to FP32; leave integer and FP32/FP64 tensors alone."""
    import torch

    t = value.detach()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    if isinstance(t, torch.nn.Parameter):
        t = t.data
    return t


def record_state_dict(rec: Record, prefix: str = "") -> OrderedDict[str, torch.Tensor]:
    """The torch-style flattened state dict of a module record, FP16 cast to FP32.

    Parameters and persistent buffers (BN running stats and ``num_batches_tracked``
    included), in ``nn.Module.state_dict()`` order.
    """
    import torch

    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for name, node in iter_records(rec, prefix.rstrip(".")):
        base = f"{name}." if name else ""
        for group in (node.parameters(), node.buffers()):
            for key, value in group.items():
                if isinstance(value, torch.Tensor) and f"{base}{key}" not in out:
                    out[f"{base}{key}"] = to_fp32(value)
    return out


def find_records(rec: Record, class_name: str) -> List[Tuple[str, Record]]:
    """Every module record whose short class name is ``class_name``."""
    return [(n, r) for n, r in iter_records(rec) if r.module_path_name() == class_name]


def tensor_dict_fp32(obj: Mapping[Any, Any]) -> OrderedDict[str, torch.Tensor]:
    """A plain mapping of tensors as an FP32 state dict (non-tensor entries dropped)."""
    import torch

    return OrderedDict((str(k), to_fp32(v)) for k, v in obj.items() if isinstance(v, torch.Tensor))


def is_tensor_dict(obj: Any, min_fraction: float = 0.5) -> bool:
    """True for a mapping that is mostly tensors (a state dict)."""
    import torch

    if not isinstance(obj, Mapping) or not obj:
        return False
    n = sum(isinstance(v, torch.Tensor) for v in obj.values())
    return n > 0 and n >= min_fraction * len(obj)


def describe(obj: Any, depth: int = 0) -> Optional[str]:
    """A short type description used in error messages."""
    if isinstance(obj, Record):
        return obj.cls
    if isinstance(obj, Mapping):
        keys = ", ".join(str(k) for k in list(obj)[:8])
        return f"dict with keys [{keys}{', ...' if len(obj) > 8 else ''}]"
    return type(obj).__name__
