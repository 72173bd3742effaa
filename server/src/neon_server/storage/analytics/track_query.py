"""NQL trees compiled to parameterised ClickHouse SQL over Track's tables.

Each condition becomes `run_id IN (subquery)` over the run's attributes or its series summaries, read from
their copies ordered by path (`track_attributes_by_path`, `track_series_by_path`: one key range per condition
instead of every row of the project); AND, OR and NOT combine those. Names, values and regular expressions are bound
parameters: nothing from the query is ever part of the SQL text. A condition on an attribute a run does not
have is false for that run (so `NOT (…)` is true for it).

Types: a `:type` picks the column to compare; without one, the value is compared with every stored type it
converts to (text with strings; a number with floats, ints and a float series' last value; true/false with
bools), so hand-typed queries such as `` `config/lr` > "0.01" `` work.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from neon_server.storage.analytics.executor import SqlParams
from neon_server.track.nql import BoolOp, Node, Not, NQLError, Predicate

MAX_REGEX_CHARS = 1_000
_NOT_RE2 = re.compile(r"\(\?(?:=|!|<=|<!|P=|>)|\\[1-9]")  # Python regex features RE2 refuses
_COMPARE = {"==": "=", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
_SERIES_COLUMN = {None: "last_value", "last": "last_value", "min": "min_value", "max": "max_value",
                  "average": "mean_value", "variance": "if(finite_count > 0, sum_sq_dev / finite_count, nan)"}
_NUMERIC = "if(type = 'int', toFloat64(int_value), float_value)"


def compile_filter(node: Node, project_param: str = "project") -> tuple[str, dict[str, Any]]:
    """SQL that is true for the `run_id`s the query matches, and its parameters. The caller binds
    `project_param` (a String) to the project's id; NQLError for values that do not fit their type."""
    params = SqlParams(prefix="q")
    sql = _node(node, params, "{" + project_param + ":String}")
    return sql, params.values


def _node(node: Node, params: SqlParams, project: str) -> str:
    if isinstance(node, BoolOp):
        return "(" + f" {node.op} ".join(_node(c, params, project) for c in node.children) + ")"
    if isinstance(node, Not):
        return f"(NOT {_node(node.child, params, project)})"
    return _predicate(node, params, project)


def _attributes(params: SqlParams, project: str, path: str, condition: str) -> str:
    return (f"run_id IN (SELECT run_id FROM track_attributes_by_path FINAL WHERE project_id = {project} "
            f"AND path = {params.add(path, 'String')} AND ({condition}))")


def _series(params: SqlParams, project: str, path: str, condition: str) -> str:
    return (f"run_id IN (SELECT run_id FROM track_series_by_path FINAL WHERE project_id = {project} "
            f"AND path = {params.add(path, 'String')} AND ({condition}))")


def _predicate(p: Predicate, params: SqlParams, project: str) -> str:  # noqa: PLR0911 - one branch per type
    a = p.attribute
    if p.operator in ("EXISTS", "NOT EXISTS"):
        exists = _exists(p, params, project)
        return exists if p.operator == "EXISTS" else f"(NOT {exists})"
    if a.aggregate is not None or a.type == "floatSeries":
        column = _SERIES_COLUMN[a.aggregate]
        return _series(params, project, a.name, "type = 'floatSeries' AND " + _number(p, column, params))
    if a.type in ("stringSeries", "histogramSeries", "fileRefSeries", "experimentState"):
        raise NQLError(f"conditions on {a.type} attributes other than EXISTS are not supported", p.position)
    if a.type in ("float", "int"):
        return _attributes(params, project, a.name, "type IN ('float', 'int') AND " + _number(p, _NUMERIC, params))
    if a.type == "bool":
        return _attributes(params, project, a.name, "type = 'bool' AND " + _bool(p, params))
    if a.type == "datetime":
        return _attributes(params, project, a.name, "type = 'datetime' AND " + _datetime(p, params))
    if a.type == "stringSet":
        return _attributes(params, project, a.name, "type = 'stringSet' AND " + _string_set(p, params))
    if a.type == "fileRef":
        return _attributes(params, project, a.name, "type = 'fileRef' AND " + _text(p, "file_path", params))
    if a.type == "string":
        return _attributes(params, project, a.name, "type = 'string' AND " + _text(p, "string_value", params))
    return _untyped(p, params, project)


def _exists(p: Predicate, params: SqlParams, project: str) -> str:
    a = p.attribute
    series_types = {"floatSeries", "stringSeries", "histogramSeries", "fileRefSeries"}
    if a.aggregate is not None or a.type in series_types:
        kind = a.type if a.type in series_types else "floatSeries"
        return _series(params, project, a.name, f"type = {params.add(kind, 'String')}")
    if a.type is not None:
        types = ["float", "int"] if a.type in ("float", "int") else [a.type]
        return _attributes(params, project, a.name, f"type IN {params.add(types, 'Array(String)')}")
    return f"({_attributes(params, project, a.name, '1')} OR {_series(params, project, a.name, '1')})"


def _untyped(p: Predicate, params: SqlParams, project: str) -> str:
    """No type given: compare with whatever the stored value is, where the text converts to it."""
    options = [f"(type = 'string' AND {_text(p, 'string_value', params)})"]
    if p.operator in ("CONTAINS", "NOT CONTAINS", "MATCHES", "NOT MATCHES"):
        options.append(f"(type = 'stringSet' AND {_string_set(p, params)})")
    number = _as_number(p.value)
    in_series = None
    if number is not None and p.operator in _COMPARE:
        options.append(f"(type IN ('float', 'int') AND {_number(p, _NUMERIC, params)})")
        in_series = _series(params, project, p.attribute.name, "type = 'floatSeries' AND "
                            + _number(p, "last_value", params))
    if p.value.lower() in ("true", "false") and p.operator in ("==", "!="):
        options.append(f"(type = 'bool' AND {_bool(p, params)})")
    attributes = _attributes(params, project, p.attribute.name, " OR ".join(options))
    return f"({attributes} OR {in_series})" if in_series else attributes


def _as_number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value


def _number(p: Predicate, column: str, params: SqlParams) -> str:
    if p.operator not in _COMPARE:
        raise NQLError(f"{p.operator} compares text; `{p.attribute.name}` is a number", p.position)
    value = _as_number(p.value)
    if value is None:
        raise NQLError(f"{p.value[:40]!r} is not a number (`{p.attribute.name}` is compared as one)", p.position)
    if math.isnan(value):
        return f"isNaN({column})" if p.operator == "==" else f"NOT isNaN({column})"
    return f"{column} {_COMPARE[p.operator]} {params.add(value, 'Float64')}"


def _bool(p: Predicate, params: SqlParams) -> str:
    if p.operator not in ("==", "!=") or p.value.lower() not in ("true", "false"):
        raise NQLError(f"`{p.attribute.name}` is a bool: compare it with == or != to \"true\" or \"false\"",
                       p.position)
    return f"bool_value {_COMPARE[p.operator]} {params.add(p.value.lower() == 'true', 'Bool')}"


def _datetime(p: Predicate, params: SqlParams) -> str:
    if p.operator not in _COMPARE:
        raise NQLError(f"{p.operator} compares text; `{p.attribute.name}` is a datetime", p.position)
    try:
        when = datetime.fromisoformat(p.value.replace("Z", "+00:00"))
    except ValueError:
        raise NQLError(f"{p.value[:40]!r} is not an ISO 8601 datetime", p.position) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    ms = int(when.timestamp() * 1000)
    return f"toUnixTimestamp64Milli(datetime_value) {_COMPARE[p.operator]} {params.add(ms, 'Int64')}"


def _regex(p: Predicate, params: SqlParams) -> str:
    if len(p.value) > MAX_REGEX_CHARS:
        raise NQLError(f"regular expression longer than {MAX_REGEX_CHARS} characters", p.position)
    try:
        re.compile(p.value)
    except re.error as exc:
        raise NQLError(f"invalid regular expression: {exc}", p.position) from None
    if _NOT_RE2.search(p.value):
        raise NQLError("regular expressions are RE2: no lookaround or backreferences", p.position)
    return params.add(p.value, "String")


def _text(p: Predicate, column: str, params: SqlParams) -> str:
    op = p.operator
    if op in ("MATCHES", "NOT MATCHES"):
        test = f"match({column}, {_regex(p, params)})"
    elif op in ("CONTAINS", "NOT CONTAINS"):
        test = f"position({column}, {params.add(p.value, 'String')}) > 0"
    else:
        return f"{column} {_COMPARE[op]} {params.add(p.value, 'String')}"
    return f"NOT {test}" if op.startswith("NOT ") else test


def _string_set(p: Predicate, params: SqlParams) -> str:
    op = p.operator
    if op in ("CONTAINS", "NOT CONTAINS"):
        test = f"has(string_set, {params.add(p.value, 'String')})"
    elif op in ("MATCHES", "NOT MATCHES"):
        test = f"arrayExists(x -> match(x, {_regex(p, params)}), string_set)"
    else:
        raise NQLError(f"`{p.attribute.name}` is a string set: use CONTAINS, NOT CONTAINS, MATCHES or NOT MATCHES",
                       p.position)
    return f"NOT {test}" if op.startswith("NOT ") else test
