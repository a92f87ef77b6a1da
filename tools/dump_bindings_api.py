"""Dump the exact Python API of an imported TensorRT or cuda-python module to JSON.

Run by ``tools/tensorrt_bindings.sh`` (which puts the real bindings and stub libraries on the
paths). Usage::

    python tools/dump_bindings_api.py tensorrt tensorrt-cu12-bindings 10.16.1.11 OUT.json
    python tools/dump_bindings_api.py cuda.bindings.runtime cuda-bindings 12.6.2.post1 OUT.json

What is recorded, per module attribute: classes (members with their kind: method, property with
``writable``, static, nested value with its type; pybind11 signatures as parameter lists), enums
(``__members__`` with their integer values), functions (signatures) and plain values. Docstrings
are not kept (``FP16`` survived in docstrings after the flag was removed).
"""

from __future__ import annotations

import enum
import importlib
import inspect
import json
import re
import sys
from typing import Any, Dict, List, Optional

_SIG = re.compile(r"^(?:\d+\. )?(\w*)\((.*)\)(?: -> (.+))?$")


def _split_params(text: str) -> List[str]:
    """Top-level comma split of a pybind11 parameter list (brackets and quotes nest)."""
    parts, depth, cur, quote = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def _param(text: str) -> Dict[str, Any]:
    head, _, default = text.partition("=")
    name, _, annotation = head.partition(":")
    name, annotation = name.strip(), annotation.strip()
    if " " in name and not annotation:  # Cython: "size_t count"
        annotation, name = name.rsplit(" ", 1)
    out: Dict[str, Any] = {"name": name, "type": _short(annotation)}
    if default:
        out["default"] = True
    if out["name"].startswith("*"):
        out["variadic"] = True
    return out


def _short(annotation: str) -> str:
    """``tensorrt_bindings.tensorrt.ILogger.Severity`` -> ``ILogger.Severity``."""
    return re.sub(r"\btensorrt(?:_bindings)?\.tensorrt\.", "", annotation).replace("tensorrt_bindings.", "")


def pybind_signatures(obj: Any) -> Optional[List[Dict[str, Any]]]:
    """Every overload of a pybind11 callable, from its docstring; None when it has none."""
    doc = getattr(obj, "__doc__", None) or ""
    name = getattr(obj, "__name__", "")
    overloaded = "Overloaded function." in doc
    sigs = []
    for line in doc.splitlines():
        m = _SIG.match(line.strip())
        if not m or m.group(1) not in (name, ""):
            continue
        if overloaded and not re.match(r"^\d+\. ", line.strip()):
            continue  # the "name(*args, **kwargs)" header of an overload set
        params = [_param(p) for p in _split_params(m.group(2))]
        if params and params[0]["name"] == "self":
            params[0] = {"name": "self", "type": ""}
        sigs.append({"params": params, "returns": _short(m.group(3) or "")})
    return sigs or None


def python_signature(obj: Any) -> Optional[List[Dict[str, Any]]]:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    params = []
    for p in sig.parameters.values():
        entry: Dict[str, Any] = {"name": p.name, "type": ""}
        if p.default is not inspect.Parameter.empty:
            entry["default"] = True
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            entry["variadic"] = True
        params.append(entry)
    return [{"params": params, "returns": ""}]


def signatures(obj: Any) -> Optional[List[Dict[str, Any]]]:
    return pybind_signatures(obj) or python_signature(obj)


def _is_enum(cls: type) -> bool:
    return hasattr(cls, "__members__") and not isinstance(cls.__members__, property)


def dump_enum(cls: Any) -> Dict[str, Any]:
    members = {str(k): int(getattr(v, "value", v)) for k, v in dict(cls.__members__).items()}
    return {"kind": "enum", "members": members}


def dump_member(owner: type, name: str, raw: Any) -> Optional[Dict[str, Any]]:
    if isinstance(raw, property):
        doc_sigs = pybind_signatures(raw.fget) if raw.fget is not None else None
        prop_type = doc_sigs[0]["returns"] if doc_sigs else ""
        return {"kind": "property", "writable": raw.fset is not None, "type": prop_type}
    if isinstance(raw, (staticmethod, classmethod)):
        return {"kind": "static", "signatures": signatures(getattr(owner, name))}
    if inspect.isclass(raw):
        return dump_class(raw)
    if callable(raw):
        return {"kind": "method", "signatures": signatures(raw)}
    return {"kind": "value", "type": _short(type(raw).__qualname__)}


def dump_class(cls: type) -> Dict[str, Any]:
    if _is_enum(cls) or (isinstance(cls, type) and issubclass(cls, enum.Enum)):
        out = dump_enum(cls)
    else:
        out = {"kind": "class", "bases": [_short(b.__qualname__) for b in cls.__mro__[1:-1]]}
    members: Dict[str, Any] = {}
    for name in dir(cls):
        if name.startswith("_") and name not in (
            "__init__",
            "__bytes__",
            "__buffer__",
            "__len__",
            "__int__",
            "__index__",
        ):
            continue
        raw = inspect.getattr_static(cls, name, None)
        if raw is None or name in out.get("members", {}):
            continue
        entry = dump_member(cls, name, raw)
        if entry is not None:
            members[name] = entry
    out["attributes"] = members
    return out


def dump_module(module: Any, only_prefix: str = "") -> Dict[str, Any]:
    api: Dict[str, Any] = {}
    for name in sorted(dir(module)):
        if name.startswith("_") and name != "__version__":
            continue
        if only_prefix and not name.startswith(only_prefix):
            continue
        obj = getattr(module, name)
        if inspect.ismodule(obj):
            continue
        if inspect.isclass(obj):
            api[name] = dump_class(obj)
        elif callable(obj):
            api[name] = {"kind": "function", "signatures": signatures(obj)}
        elif isinstance(obj, (int, float, str)):
            api[name] = {"kind": "value", "type": type(obj).__name__, "value": obj}
    return api


def _prune(node: Any) -> Any:
    """Drop empty ``type`` / ``returns`` fields (most of the bytes of a dump)."""
    if isinstance(node, dict):
        return {k: _prune(v) for k, v in node.items() if not (k in ("type", "returns") and v == "")}
    if isinstance(node, list):
        return [_prune(v) for v in node]
    return node


def _compact(data: Dict[str, Any]) -> str:
    """One line per top-level name: small, and a diff between versions stays readable."""
    head = {k: v for k, v in data.items() if k != "api"}
    lines = [json.dumps(head, sort_keys=True)[:-1] + ', "api": {']
    items = sorted(_prune(data["api"]).items())
    for i, (name, entry) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        lines.append(f"{json.dumps(name)}: {json.dumps(entry, sort_keys=True, separators=(',', ':'))}{comma}")
    return "\n".join(lines) + "\n}}\n"


def main(argv: List[str]) -> int:
    module_name, package, version, out = argv[1:5]
    prefix = argv[5] if len(argv) > 5 else ""
    module = importlib.import_module(module_name)
    data = {
        "package": package,
        "wheel_version": version,
        "module": module_name,
        "python": "{}.{}".format(*sys.version_info[:2]),
        "generated_by": "tools/tensorrt_bindings.sh",
        "api": dump_module(module, prefix),
    }
    with open(out, "w") as fh:
        fh.write(_compact(data))
    print(f"{out}: {package} {version}, {len(data['api'])} names")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
