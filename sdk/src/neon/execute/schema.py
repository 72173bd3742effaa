"""The published JSON Schema of agent spec files (`agent.schema.json`) and readable messages from jsonschema.

`schema_problems(data)` validates plain data against the schema; `describe(errors)` turns jsonschema's errors into
`Problem`s — a field path and a sentence such as `expected one of 'openai', 'anthropic', got 'openia'` — which the
spec loader places on file lines and `validate_arguments` reports per argument.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from neon.execute.errors import Path

try:
    import jsonschema
    from jsonschema.exceptions import ValidationError, best_match
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the installation
    raise ModuleNotFoundError("neon.execute needs the agents extra: pip install 'neon[agents]'",
                              name=exc.name) from exc

SCHEMA_FILE = "agent.schema.json"
JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number",
              type(None): "null"}


@dataclass(frozen=True)
class Problem:
    """A problem at a field path, before it is placed in a file. `at_key`: it is about the key itself (an unknown
    key), so its line is the key's line rather than its value's."""

    path: Path
    message: str
    at_key: bool = False


def schema_text() -> str:
    """The agent spec JSON Schema as published (what `neon agent schema` prints)."""
    return resources.files("neon.execute").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


@functools.cache
def agent_schema() -> Mapping[str, Any]:
    """The agent spec JSON Schema (draft 2020-12), parsed."""
    schema: dict[str, Any] = json.loads(schema_text())
    return schema


@functools.cache
def _agent_validator() -> Any:
    return jsonschema.Draft202012Validator(agent_schema())


def schema_problems(data: Any) -> list[Problem]:
    """Every way `data` (a spec as plain JSON-like data) breaks the agent spec schema."""
    return describe(_agent_validator().iter_errors(data))


def metaschema_problems(schema: Any, base: Path) -> list[Problem]:
    """Every way `schema` fails to be a valid JSON Schema (of its declared `$schema` draft, default 2020-12),
    with paths under `base`."""
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return describe(cls(cls.META_SCHEMA).iter_errors(schema), base=base)


def instance_problems(schema: Mapping[str, Any], instance: Any) -> list[Problem]:
    """Every way `instance` breaks `schema` (assumed valid); `format` (email, date-time…) is checked too."""
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return describe(cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(instance))


def describe(errors: Iterable[ValidationError], *, base: Path = ()) -> list[Problem]:
    """jsonschema errors as Problems (one per unknown key or missing field), without repeats, in order."""
    found: list[Problem] = []
    for error in errors:
        for problem in _describe(error):
            placed = Problem((*base, *problem.path), problem.message, problem.at_key)
            if placed not in found:
                found.append(placed)
    return found


def show(value: Any, limit: int = 60) -> str:
    """A value as a message quotes it: strings in single quotes, the rest as JSON; long ones cut."""
    if isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, default=str, ensure_ascii=False)
        except ValueError:
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def type_name(value: Any) -> str:
    return JSON_TYPES.get(type(value), type(value).__name__)


def _describe(error: ValidationError) -> list[Problem]:  # noqa: PLR0911, PLR0912 - a branch per kind of error
    path: Path = tuple(error.absolute_path)
    kind, expected, instance = error.validator, error.validator_value, error.instance
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    custom = schema.get("x-message")
    if kind == "required":
        present = instance if isinstance(instance, Mapping) else {}
        return [Problem((*path, name), "missing required field") for name in expected if name not in present]
    if kind == "additionalProperties":
        known = list(schema.get("properties", {}))
        return [Problem((*path, key), _unknown_key(key, known), at_key=True)
                for key in instance if key not in known]
    if kind == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return [Problem(path, f"expected {wanted}, got {type_name(instance)} {show(instance)}")]
    if kind == "enum":
        if custom:
            return [Problem(path, f"{custom}; got {show(instance)}")]
        return [Problem(path, f"expected one of {', '.join(show(v) for v in expected)}, got {show(instance)}")]
    if kind == "const":
        return [Problem(path, f"expected {show(expected)}, got {show(instance)}")]
    if kind == "pattern":
        message = custom or f"does not match the pattern {expected!r}"
        return [Problem(path, f"{message}; got {show(instance)}")]
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
                 "exclusiveMaximum": "less than"}[kind]
        return [Problem(path, f"must be {bound} {show(expected)}, got {show(instance)}")]
    if kind == "minLength":
        return [Problem(path, "must not be empty" if expected == 1 else f"needs at least {expected} characters")]
    if kind == "maxLength":
        return [Problem(path, f"must have at most {expected} characters")]
    if kind in ("minItems", "maxItems"):
        return [Problem(path, f"needs at {'least' if kind == 'minItems' else 'most'} {expected} item(s)")]
    if kind == "format":
        return [Problem(path, f"expected {expected} format, got {show(instance)}")]
    if kind == "uniqueItems":
        return [Problem(path, "must not repeat an item")]
    if kind in ("minProperties", "maxProperties"):
        default = f"needs at {'least' if kind == 'minProperties' else 'most'} {expected} key(s)"
        return [Problem(path, str(schema.get("x-message-properties") or default))]
    if kind in ("anyOf", "oneOf") and error.context:
        best = best_match(error.context)
        return _describe(best) if best is not None else [Problem(path, error.message)]
    if kind == "false" or expected is False:
        return [Problem(path, "is not allowed here")]
    return [Problem(path, error.message)]


def _unknown_key(key: Any, known: list[str]) -> str:
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    if close:
        return f"unknown key {show(key)} (did you mean {close[0]!r}?)"
    return f"unknown key {show(key)}; known keys: {', '.join(known)}" if known else f"unknown key {show(key)}"
