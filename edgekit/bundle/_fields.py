"""Small typed readers for manifest fields: each names the field path when it fails."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

T = TypeVar("T")


class FieldError(ValueError):
    """A manifest field is missing or has the wrong type/value; ``str()`` names its path."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def section(d: Any, key: str, path: str) -> Dict[str, Any]:
    value = d.get(key) if isinstance(d, dict) else None
    if not isinstance(value, dict):
        raise FieldError(f"'{path}{key}' must be an object, got {_show(value)}")
    return value


def string(d: Dict[str, Any], key: str, path: str, choices: Optional[Sequence[str]] = None) -> str:
    if key not in d:
        raise FieldError(f"missing field '{path}{key}'")
    value = d[key]
    if not isinstance(value, str) or not value:
        raise FieldError(f"'{path}{key}' must be a non-empty string, got {_show(value)}")
    if choices is not None and value not in choices:
        raise FieldError(f"'{path}{key}' must be one of {', '.join(choices)}; got {_show(value)}")
    return value


def opt_string(d: Dict[str, Any], key: str, path: str) -> Optional[str]:
    return None if d.get(key) is None else string(d, key, path)


def integer(d: Dict[str, Any], key: str, path: str, minimum: int = 0, default: Any = ...) -> int:
    if key not in d:
        if default is not ...:
            return default
        raise FieldError(f"missing field '{path}{key}'")
    value = d[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FieldError(f"'{path}{key}' must be an integer >= {minimum}, got {_show(value)}")
    return value


def number(d: Dict[str, Any], key: str, path: str, default: Any = ..., positive: bool = False) -> float:
    if key not in d:
        if default is not ...:
            return default
        raise FieldError(f"missing field '{path}{key}'")
    value = d[key]
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (positive and value <= 0):
        kind = "a positive number" if positive else "a number"
        raise FieldError(f"'{path}{key}' must be {kind}, got {_show(value)}")
    return float(value)


def boolean(d: Dict[str, Any], key: str, path: str, default: bool = False) -> bool:
    value = d.get(key, default)
    if not isinstance(value, bool):
        raise FieldError(f"'{path}{key}' must be true or false, got {_show(value)}")
    return value


def string_list(d: Dict[str, Any], key: str, path: str) -> List[str]:
    value = d.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FieldError(f"'{path}{key}' must be a list of strings, got {_show(value)}")
    return list(value)


def int_list(d: Dict[str, Any], key: str, path: str, allow_none: bool = False) -> List[Optional[int]]:
    value = d.get(key)

    def ok(v: Any) -> bool:
        return (v is None and allow_none) or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)

    if not isinstance(value, list) or not all(ok(v) for v in value):
        raise FieldError(f"'{path}{key}' must be a list of non-negative integers, got {_show(value)}")
    return list(value)


def obj_list(d: Dict[str, Any], key: str, path: str) -> List[Dict[str, Any]]:
    value = d.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        raise FieldError(f"'{path}{key}' must be a non-empty list of objects, got {_show(value)}")
    return value


def optional_items(
    d: Dict[str, Any], key: str, path: str, build: Callable[[Dict[str, Any], str], T]
) -> Tuple[T, ...]:
    """``build(item, "path.key[i].")`` for each object of an optional list (absent or [] -> ())."""
    if d.get(key, []) == []:
        return ()
    return tuple(build(item, f"{path}{key}[{i}].") for i, item in enumerate(obj_list(d, key, path)))


def mapping(d: Dict[str, Any], key: str, path: str) -> Dict[str, Any]:
    """An optional object field (absent or null: empty)."""
    value = d.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FieldError(f"'{path}{key}' must be an object, got {_show(value)}")
    return value


def opt_integer(d: Dict[str, Any], key: str, path: str, minimum: int = 0) -> Optional[int]:
    return None if d.get(key) is None else integer(d, key, path, minimum)


def known_fields(d: Dict[str, Any], path: str, cls: Any) -> None:
    """Refuse a field of ``d`` that the dataclass ``cls`` (a manifest section) does not have."""
    known(d, path, field_names(cls))


def field_names(cls: Any) -> Tuple[str, ...]:
    """The JSON keys of a manifest section: its dataclass fields."""
    return tuple(f.name for f in dataclasses.fields(cls))


def known(d: Dict[str, Any], path: str, keys: Sequence[str]) -> None:
    """Refuse a field of ``d`` that is not one of ``keys`` (a typo, or a newer edgekit's field)."""
    unknown = [k for k in d if k not in keys]
    if unknown:
        where = path.rstrip(".") or "the manifest"
        raise FieldError(f"unknown field '{path}{unknown[0]}' in {where} (known: {', '.join(keys)})")
