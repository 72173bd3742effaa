"""Checks of spec data: the JSON Schema, then what a schema cannot say.

Beyond the schema: a tool's `parameters` and a json_schema rule's `schema` must themselves be valid JSON Schemas;
regex patterns must compile; tool names must differ; a retry's max interval must not be shorter than its first;
durations must be longer than zero; numbers must be finite; the system prompt may only use declared variables,
and `{{ … }}` that is not a placeholder is reported rather than sent to the model as is. Every check is written
against plain data and skips what has the wrong shape (the schema reports that), so all problems of a file come
out at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from neon.execute.errors import Path
from neon.execute.schema import Problem, metaschema_problems, schema_problems

DURATION_UNITS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([wdhms])\s*")
_NUMBER = re.compile(r"\s*\d+(?:\.\d+)?\s*")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_BRACES = re.compile(r"\{\{([^{}\n]*)\}\}")


def parse_duration(value: float | str) -> float:
    """Seconds from a number or a string such as '7d', '12h', '30m', '45s', '1h30m' or '90'.
    ValueError for anything else (negative numbers and booleans included)."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r}")
    if _NUMBER.fullmatch(value):
        return float(value)
    total, end = 0.0, 0
    for match in _DURATION_PART.finditer(value):
        if match.start() != end:
            break
        total += float(match.group(1)) * DURATION_UNITS[match.group(2)]
        end = match.end()
    if end != len(value) or end == 0:
        raise ValueError(f"not a duration: {value!r} (write e.g. '7d', '12h', '30m', '45s' or seconds)")
    return total


def placeholders(template: str) -> list[str]:
    """The variable names a template uses, in order of first use."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(template)))


def spec_problems(data: Any) -> list[Problem]:
    """Every problem of spec data: the schema's, then the checks beyond it."""
    return schema_problems(data) + list(_beyond_schema(data))


def _beyond_schema(data: Any) -> Iterator[Problem]:
    yield from _non_finite(data, ())
    if not isinstance(data, Mapping):
        return
    yield from _prompt_problems(data.get("system_prompt"), data.get("variables"))
    tools = data.get("tools")
    if isinstance(tools, list):
        yield from _tool_problems(tools)
    yield from _retry_problems(data.get("llm_retry"), ("llm_retry",))
    approval = data.get("approval")
    if isinstance(approval, Mapping) and "timeout" in approval:
        try:
            seconds = parse_duration(approval["timeout"])
        except ValueError:
            seconds = None  # the schema says what is wrong with it
        if seconds == 0:
            yield Problem(("approval", "timeout"), "must be longer than zero")
    guardrails = data.get("guardrails")
    if isinstance(guardrails, Mapping):
        for stage in ("input", "output"):
            rules = guardrails.get(stage)
            if isinstance(rules, list):
                for i, rule in enumerate(rules):
                    if isinstance(rule, Mapping):
                        yield from _rule_problems(rule, ("guardrails", stage, i))


def _non_finite(value: Any, path: Path) -> Iterator[Problem]:
    """NaN and infinities (YAML's .nan, .inf) pass every numeric bound and are not JSON: refuse them anywhere."""
    if isinstance(value, float) and not math.isfinite(value):
        yield Problem(path, f"expected a finite number, got {value}")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _non_finite(item, (*path, key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _non_finite(item, (*path, i))


def _prompt_problems(prompt: Any, variables: Any) -> Iterator[Problem]:
    if not isinstance(prompt, str):
        return
    for match in _BRACES.finditer(prompt):
        if not _PLACEHOLDER.fullmatch(match.group(0)):
            yield Problem(("system_prompt",), f"{match.group(0)!r} is not a placeholder: write {{{{ name }}}} "
                                              "with letters, digits and '_'")
    declared = variables if isinstance(variables, Mapping) else {}
    for name in placeholders(prompt):
        if name not in declared:
            yield Problem(("system_prompt",), f"uses {{{{ {name} }}}} but variables does not declare {name!r} "
                                              f"(add `{name}: null` under variables, or a default)")


def _tool_problems(tools: list[Any]) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    for i, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            continue
        name = tool.get("name")
        if isinstance(name, str):
            if name in seen:
                yield Problem(("tools", i, "name"), f"tool name {name!r} is already used by tools[{seen[name]}]")
            seen.setdefault(name, i)
        parameters = tool.get("parameters")
        if isinstance(parameters, Mapping):
            yield from metaschema_problems(parameters, ("tools", i, "parameters"))
        yield from _retry_problems(tool.get("retry"), ("tools", i, "retry"))


def _retry_problems(retry: Any, path: Path) -> Iterator[Problem]:
    if not isinstance(retry, Mapping):
        return
    # both policies (tools' and the LLM's) default to 1 s first and 60 s at most
    first, most = retry.get("initial_interval_seconds", 1.0), retry.get("max_interval_seconds", 60.0)
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (first, most))
    if numbers and most < first:
        yield Problem((*path, "max_interval_seconds"),
                      f"{most} is shorter than initial_interval_seconds ({first})")


def _rule_problems(rule: Mapping[str, Any], path: Path) -> Iterator[Problem]:
    kind = rule.get("type")
    if kind == "regex" and isinstance(rule.get("pattern"), str):
        try:
            re.compile(rule["pattern"])
        except re.error as exc:
            yield Problem((*path, "pattern"), f"not a valid regular expression: {exc}")
    if kind == "json_schema" and isinstance(rule.get("schema"), Mapping):
        yield from metaschema_problems(rule["schema"], (*path, "schema"))
