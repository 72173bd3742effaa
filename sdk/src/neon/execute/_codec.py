"""Spec dataclasses to plain data and back, driven by their type hints (one place that knows the mapping).

- `dump(obj)`: the canonical form — every field present (defaults filled), tuples as lists, numbers in float
  fields as floats, and fields with a `canonical` metadata function normalised (durations → seconds).
- `load(cls, data)`: the inverse, for data that already passed validation. A missing nested block takes its
  values from the field's default instance (so a partial `llm_retry` keeps the LLM defaults, not the tool ones).

Two kinds of unions are understood: guardrail rules (dataclasses with a `type` ClassVar, chosen by the `type` key)
and tool implementations (`{python: ...}`, `{http: {...}}` or a bare import path string).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal

WRAPPED = "wrapped_as"  # class attribute of implementation classes: the key they sit under ("python", "http")


@functools.cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _union_members(hint: Any) -> tuple[Any, ...]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return ()


def _canonical(field: dataclasses.Field[Any], value: Any) -> Any:
    normalise: Callable[[Any], Any] | None = field.metadata.get("canonical")
    if normalise is None or value is None:
        return value
    try:
        return normalise(value)
    except (ValueError, TypeError):
        return value  # left as written: validation reports it


def dump(value: Any) -> Any:
    """The canonical plain form of a spec object (or of any JSON-like value inside one)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        wrapped = getattr(cls, WRAPPED, None)
        hints = _hints(cls)
        out: dict[str, Any] = {}
        kind = getattr(cls, "type", None)
        if isinstance(kind, str):
            out["type"] = kind
        for field in dataclasses.fields(value):
            item = _canonical(field, getattr(value, field.name))
            if _is_float(hints[field.name]) and isinstance(item, int) and not isinstance(item, bool):
                item = float(item)
            out[field.name] = dump(item)
        if wrapped == "python":
            return {"python": out["function"]}
        return {wrapped: out} if wrapped else out
    if isinstance(value, tuple | list):
        return [dump(v) for v in value]
    if isinstance(value, Mapping):
        return {k: dump(v) for k, v in value.items()}
    return value


def _is_float(hint: Any) -> bool:
    return hint is float or float in _union_members(hint)


def load(cls: type, data: Mapping[str, Any], default: Any = None) -> Any:
    """An instance of dataclass `cls` from validated plain data; missing fields from `default` (an instance of
    `cls`) when given, else from the class defaults."""
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name in data:
            inner_default = getattr(default, field.name) if default is not None else _field_default(field)
            kwargs[field.name] = _canonical(field, _convert(hints[field.name], data[field.name], inner_default))
        elif default is not None:
            kwargs[field.name] = getattr(default, field.name)
    return cls(**kwargs)


def _field_default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    return None


def _convert(hint: Any, value: Any, default: Any = None) -> Any:  # noqa: PLR0911 - one branch per kind of hint
    members = _union_members(hint)
    if members:
        if value is None and type(None) in members:
            return None
        classes: list[type] = [m for m in members if isinstance(m, type) and dataclasses.is_dataclass(m)]
        if len(classes) == 1 and isinstance(value, Mapping):  # `Evaluation | None`
            return load(classes[0], value, default if isinstance(default, classes[0]) else None)
        if classes:
            return _load_member(classes, value, default)
        if float in members and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return copy.deepcopy(value)
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return load(hint, value, default if isinstance(default, hint) else None)
    if origin is tuple:
        item_hint = typing.get_args(hint)[0]
        return tuple(_convert(item_hint, v) for v in value)
    if origin in (Mapping, dict) or hint is Mapping:
        args = typing.get_args(hint)
        value_hint = args[1] if len(args) == 2 else Any
        return {k: _convert(value_hint, v) for k, v in value.items()}
    if hint is float:
        return float(value)
    if hint is int:
        return int(value)
    if origin is Literal or hint in (str, bool):
        return value
    return copy.deepcopy(value)  # Any: JSON Schemas and other free-form JSON


def _load_member(classes: list[type], value: Any, default: Any) -> Any:
    """One member of a union of dataclasses: rules by their `type`, implementations by their wrapping key."""
    if isinstance(value, Mapping) and "type" in value:
        for cls in classes:
            if getattr(cls, "type", None) == value["type"]:
                return load(cls, {k: v for k, v in value.items() if k != "type"})
    by_key = {getattr(cls, WRAPPED, None): cls for cls in classes}
    if isinstance(value, str) and "python" in by_key:
        return by_key["python"](function=value)
    if isinstance(value, Mapping) and len(value) == 1:
        key, inner = next(iter(value.items()))
        if key == "python" and isinstance(inner, str):
            return by_key["python"](function=inner)
        if key in by_key:
            return load(by_key[key], inner)
    raise ValueError(f"cannot tell which of {', '.join(c.__name__ for c in classes)} {value!r} is")
