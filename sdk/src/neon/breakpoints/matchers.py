"""Matchers: which spans a breakpoint is about. Combine with and_/or_/not_ (or &, |, ~), nest freely."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from neon.breakpoints.spans import SpanInfo

Pattern = str | re.Pattern[str]


class Matcher:
    def __init__(self, test: Callable[[SpanInfo], bool], description: str) -> None:
        self._test = test
        self.description = description

    def __call__(self, span: SpanInfo) -> bool:
        return bool(self._test(span))

    def __and__(self, other: Matcher) -> Matcher:
        return and_(self, other)

    def __or__(self, other: Matcher) -> Matcher:
        return or_(self, other)

    def __invert__(self) -> Matcher:
        return not_(self)

    def __repr__(self) -> str:
        return f"Matcher({self.description})"


def _text_matches(pattern: Pattern, value: str) -> bool:
    if isinstance(pattern, re.Pattern):
        return pattern.search(value) is not None
    return value == pattern


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """`**` matches anything, `*` anything within one segment (segments split on '.' and '/'), `?` one character."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append(r"[^./]*")
            i += 1
        elif pattern[i] == "?":
            out.append(r"[^./]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("^" + "".join(out) + "$")


def on_span_type(*types: str) -> Matcher:
    wanted = set(types)
    return Matcher(lambda s: s.span_type in wanted, f"span_type in {sorted(wanted)}")


def on_component_type(*types: str) -> Matcher:
    wanted = set(types)
    return Matcher(lambda s: s.component_type in wanted, f"component_type in {sorted(wanted)}")


def on_span_name(pattern: Pattern) -> Matcher:
    return Matcher(lambda s: _text_matches(pattern, s.name), f"name {pattern!r}")


def on_span_name_glob(pattern: str) -> Matcher:
    regex = glob_to_regex(pattern)
    return Matcher(lambda s: regex.match(s.name) is not None, f"name glob {pattern!r}")


def on_tool(pattern: Pattern | None = None) -> Matcher:
    """Tool spans, optionally only those whose tool name equals (or, for a compiled regex, matches) `pattern`."""
    return Matcher(lambda s: s.span_type == "tool" and (pattern is None or _text_matches(pattern, s.tool_name)),
                   f"tool {pattern!r}")


def on_model(pattern: Pattern) -> Matcher:
    return Matcher(lambda s: bool(s.model) and _text_matches(pattern, s.model), f"model {pattern!r}")


def on_status(status: str) -> Matcher:
    return Matcher(lambda s: s.status == status, f"status {status!r}")


def on_error() -> Matcher:
    return on_status("error")


def on_success() -> Matcher:
    return Matcher(lambda s: s.status != "error", "not an error")


def on_attribute(key: str, value: Any = None) -> Matcher:
    """The attribute exists (value None), equals `value`, or (a compiled regex) matches it."""
    def test(span: SpanInfo) -> bool:
        if key not in span.attributes:
            return False
        actual = span.attributes[key]
        if value is None:
            return True
        if isinstance(value, re.Pattern):
            return value.search(str(actual)) is not None
        return bool(actual == value or str(actual) == str(value))
    return Matcher(test, f"attribute {key}={value!r}")


def on_attributes(expected: dict[str, Any]) -> Matcher:
    return and_(*(on_attribute(k, v) for k, v in expected.items()))


def on_condition(predicate: Callable[[SpanInfo], bool], description: str = "custom condition") -> Matcher:
    def test(span: SpanInfo) -> bool:
        try:
            return bool(predicate(span))
        except Exception:  # a broken predicate matches nothing rather than breaking the traced program
            return False
    return Matcher(test, description)


def and_(*matchers: Matcher) -> Matcher:
    return Matcher(lambda s: all(m(s) for m in matchers), "(" + " and ".join(m.description for m in matchers) + ")")


def or_(*matchers: Matcher) -> Matcher:
    return Matcher(lambda s: any(m(s) for m in matchers), "(" + " or ".join(m.description for m in matchers) + ")")


def not_(matcher: Matcher) -> Matcher:
    return Matcher(lambda s: not matcher(s), f"not {matcher.description}")
