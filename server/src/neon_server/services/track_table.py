"""The runs table: a project's runs filtered by NQL, any attributes and series aggregates as columns, sorted by
any of them, keyset-paged, grouped by attribute values with per-group statistics; and attribute-name search.

Cursors are opaque to clients: base64 of the last row's position in the order, bound to the request's sort and
filter by a digest, so a cursor edited by hand or taken to another query is refused (422 naming it) rather than
answering a page from nowhere.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from neon_server.domain.track_table import (
    ATTRIBUTE_KINDS,
    FLOAT_AGGREGATES,
    MAX_COLUMNS,
    MAX_GROUP_BY,
    MAX_GROUP_LIMIT,
    MAX_LIMIT,
    MAX_SORT,
    OTHER_SERIES_AGGREGATES,
    SERIES_KINDS,
    TYPE_PREFERENCE,
    Column,
    GroupKey,
    GroupStats,
    SortKey,
    SortPosition,
)
from neon_server.services.errors import InvalidInput
from neon_server.storage.analytics.executor import AnalyticsError, SqlParams
from neon_server.storage.analytics.track_query import compile_filter
from neon_server.storage.analytics.track_table import TrackTableStore, group_condition, runs_condition
from neon_server.track import nql

DEFAULT_SORT = (SortKey(Column("sys/creation_time", "datetime"), descending=True),)
MAX_REGEX_CHARS = 1_000
MAX_NAME_RUNS = 1_000


@dataclass
class TableRequest:
    query: str | None = None
    columns: list[Column] = field(default_factory=list)
    sort: list[SortKey] = field(default_factory=list)
    limit: int = 100
    after: str | None = None
    group_by: list[str] = field(default_factory=list)
    group: str | None = None
    group_limit: int = 100
    group_after: str | None = None
    # only these runs (a shared report's), whatever the query says; None: every run of the project
    run_ids: list[str] | None = None


@dataclass
class TableRow:
    run_id: str
    short_id: str
    name: str
    values: list[Any]


@dataclass
class TableGroup:
    key: str  # opaque: give it back as `group` to page the group's runs, or as `group_after`
    values: list[Any]
    stats: GroupStats


@dataclass
class TableAnswer:
    columns: list[Column]
    rows: list[TableRow]
    next_cursor: str | None
    total: int
    groups: list[TableGroup] | None = None
    groups_next_cursor: str | None = None


def special(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


class TrackTableService:
    def __init__(self, store: TrackTableStore) -> None:
        self._store = store

    # -- the table ------------------------------------------------------------------------------------------
    def table(self, project_id: str, request: TableRequest) -> TableAnswer:
        _check_sizes(request)
        columns, sort = self._resolve(project_id, request.columns, request.sort)
        params = SqlParams({"project": project_id}, prefix="t")
        where: list[str] = []
        if request.query:
            try:
                condition, values = compile_filter(nql.parse(request.query))
            except nql.NQLError as exc:
                raise InvalidInput(f"query: {exc}", position=exc.position, reason=exc.reason) from None
            params.values.update(values)
            where.append(condition)
        if request.run_ids is not None:
            where.append(runs_condition(request.run_ids, params))
        scope = _digest([request.query or "", [_column_id(k.column) + (":d" if k.descending else ":a")
                                               for k in sort], request.group_by, request.group or ""])
        if request.group is not None:
            if not request.group_by:
                raise InvalidInput("group: a group key needs the group_by it came from", field="group")
            where.append(group_condition(request.group_by, _decode_group(request.group, len(request.group_by),
                                                                       "group"), params))
        if request.group_by and request.group is None:
            return self._grouped(request, columns=columns, params=params, where=where,
                                 total=self._store.count(params, where))
        after = _decode_position(request.after, sort, scope) if request.after else None
        page = self._store.page(params, where, sort, after, request.limit)
        total = page.total if page.total is not None else self._store.count(params, where)
        positions = page.positions
        rows = self._rows(project_id, [p.run_id for p in positions], page.short_ids, columns)
        cursor = _encode_position(positions[-1], scope) if len(positions) == request.limit else None
        return TableAnswer(columns, rows, cursor, total)

    def _grouped(self, request: TableRequest, *, columns: list[Column], params: SqlParams,
                 where: list[str], total: int) -> TableAnswer:
        numeric = [c for c in columns if c.numeric]
        after = _decode_group(request.group_after, len(request.group_by), "group_after") \
            if request.group_after else None
        found = self._store.groups(params, where, request.group_by, numeric, after=after, limit=request.group_limit)
        index = {id(c): j for j, c in enumerate(numeric)}
        groups = []
        for stats in found:
            stats.columns = {i: stats.columns[index[id(c)]] for i, c in enumerate(columns) if id(c) in index}
            groups.append(TableGroup(_encode_group(stats.key), [_key_value(p) for p in stats.key.parts], stats))
        cursor = groups[-1].key if len(groups) == request.group_limit else None
        return TableAnswer(columns, [], None, total, groups, cursor)

    def _resolve(self, project_id: str, columns: list[Column], sort: list[SortKey]
                 ) -> tuple[list[Column], tuple[SortKey, ...]]:
        """Columns with their types: as given, a series when an aggregate is given, else the path's type in
        the project (TYPE_PREFERENCE when it has several; None when no run has it: always null)."""
        everything = [*columns, *(k.column for k in sort)]
        for i, c in enumerate(everything):
            _check_column(c, f"columns[{i}]" if i < len(columns) else f"sort[{i - len(columns)}]")
        untyped = {c.path for c in everything if c.type is None and c.aggregate is None}
        found = self._store.path_types(project_id, sorted(untyped)) if untyped else {}

        def resolve(c: Column) -> Column:
            kind = c.type
            if kind is None:
                kind = "floatSeries" if c.aggregate is not None else next(
                    (t for t in TYPE_PREFERENCE if t in found.get(c.path, ())), None)
            aggregate = c.aggregate
            if kind in SERIES_KINDS and aggregate is None:
                aggregate = "last" if kind == "floatSeries" else "count"
            return Column(c.path, kind, aggregate if kind in SERIES_KINDS else None)

        resolved_sort = tuple(SortKey(resolve(k.column), k.descending) for k in sort) or DEFAULT_SORT
        return [resolve(c) for c in columns], resolved_sort

    def _rows(self, project_id: str, run_ids: list[str], short_ids: dict[str, str], columns: list[Column]
              ) -> list[TableRow]:
        if not run_ids:
            return []
        attribute_paths = {c.path for c in columns if c.type in ATTRIBUTE_KINDS} | {"sys/name"}
        series_paths = {c.path for c in columns if c.is_series}
        attributes = {(r["run_id"], r["path"]): r
                      for r in self._store.attribute_values(project_id, run_ids, sorted(attribute_paths))}
        series = {(r["run_id"], r["path"], r["type"]): r
                  for r in self._store.series_values(project_id, run_ids, sorted(series_paths))}
        rows = []
        for run_id in run_ids:
            values = []
            for c in columns:
                if c.is_series:
                    summary = series.get((run_id, c.path, c.type))
                    values.append(None if summary is None else _aggregate(summary, c.aggregate or "count"))
                else:
                    attribute = attributes.get((run_id, c.path))
                    values.append(_attribute(attribute, c.type))
            name = attributes.get((run_id, "sys/name"))
            rows.append(TableRow(run_id, short_ids[run_id], name["string_value"] if name else run_id, values))
        return rows

    # -- attribute names --------------------------------------------------------------------------------------
    def attribute_names(self, project_id: str, regex: str, types: Sequence[str], after: str | None, limit: int, *,
                        run_ids: Sequence[str] = ()
                        ) -> tuple[list[tuple[str, int, list[tuple[str, int]]]], str | None]:
        """The project's attribute and series names matching an RE2 regular expression, by path: (path, runs
        having it, [(type, runs)]), and the cursor of the next page (the last path) when there may be more. With
        `run_ids`, the names those runs have, their runs counted among them."""
        if len(run_ids) > MAX_NAME_RUNS:
            raise InvalidInput(f"run: at most {MAX_NAME_RUNS} runs", field="run")
        if len(regex) > MAX_REGEX_CHARS:
            raise InvalidInput(f"regex: longer than {MAX_REGEX_CHARS} characters", field="regex")
        if regex:
            try:
                self._store.check_regex(regex)
            except AnalyticsError as exc:
                reason = str(exc).split("] ", 1)[-1][:300]
                raise InvalidInput(f"regex: not a valid RE2 regular expression ({reason})", field="regex") from None
        unknown = [t for t in types if t not in (*ATTRIBUTE_KINDS, *SERIES_KINDS)]
        if unknown:
            raise InvalidInput(f"type: unknown type {unknown[0]!r}: expected one of "
                               f"{', '.join((*ATTRIBUTE_KINDS, *SERIES_KINDS))}", field="type")
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit: between 1 and {MAX_LIMIT}", field="limit")
        found = (self._store.run_paths(project_id, sorted(set(run_ids)), regex, types, after=after,
                                         limit=limit) if run_ids
                 else self._store.paths(project_id, regex, types, after, limit))
        return found, (found[-1][0] if len(found) == limit else None)


# -- checks -------------------------------------------------------------------------------------------------------
def _check_sizes(request: TableRequest) -> None:
    if len(request.columns) > MAX_COLUMNS:
        raise InvalidInput(f"columns: at most {MAX_COLUMNS} (got {len(request.columns)})", field="columns")
    if len(request.sort) > MAX_SORT:
        raise InvalidInput(f"sort: at most {MAX_SORT} keys", field="sort")
    if len(request.group_by) > MAX_GROUP_BY:
        raise InvalidInput(f"group_by: at most {MAX_GROUP_BY} paths", field="group_by")
    if not 1 <= request.limit <= MAX_LIMIT:
        raise InvalidInput(f"limit: between 1 and {MAX_LIMIT}", field="limit")
    if not 1 <= request.group_limit <= MAX_GROUP_LIMIT:
        raise InvalidInput(f"group_limit: between 1 and {MAX_GROUP_LIMIT}", field="group_limit")


def _check_column(c: Column, where: str) -> None:
    if c.type is not None and c.type not in (*ATTRIBUTE_KINDS, *SERIES_KINDS):
        raise InvalidInput(f"{where}: unknown type {c.type!r}", field=where)
    if c.aggregate is None:
        return
    if c.type is not None and c.type not in SERIES_KINDS:
        raise InvalidInput(f"{where}: the aggregate does not fit: {c.aggregate} is for series; {c.path!r} is asked "
                           f"as {c.type}", field=where)
    allowed = FLOAT_AGGREGATES if c.type in (None, "floatSeries") else OTHER_SERIES_AGGREGATES
    if c.aggregate not in allowed:
        raise InvalidInput(f"{where}: the aggregate does not fit: {c.aggregate} of a {c.type or 'floatSeries'}; "
                           f"expected one of {', '.join(allowed)}", field=where)


def _column_id(c: Column) -> str:
    return f"{c.path}\x00{c.type}\x00{c.aggregate}"


# -- values -------------------------------------------------------------------------------------------------------
def _attribute(row: dict[str, Any] | None, kind: str | None) -> Any:  # noqa: PLR0911 - one answer per type
    if row is None or kind is None:
        return None
    stored = row["type"]
    if stored != kind and not (kind in ("float", "int") and stored in ("float", "int")):
        return None
    if stored == "float":
        return special(row["float_value"])
    if stored == "int":
        return row["int_value"]
    if stored == "bool":
        return bool(row["bool_value"])
    if stored == "string":
        return row["string_value"]
    if stored == "datetime":
        return datetime.fromtimestamp(row["datetime_ms"] / 1000, UTC).isoformat(timespec="milliseconds")
    if stored == "stringSet":
        return sorted(row["string_set"])
    return {"path": row["file_path"], "size_bytes": row["file_size"], "mime_type": row["file_mime"]}


def _aggregate(summary: dict[str, Any], aggregate: str) -> Any:
    if aggregate == "count":
        return int(summary["count"])
    column = {"last": "last_value", "min": "min_value", "max": "max_value", "average": "mean_value",
              "variance": "variance", "last_step": "last_step"}[aggregate]
    return special(float(summary[column]))


def _key_value(part: tuple[str, str] | None) -> Any:  # noqa: PLR0911 - one answer per type
    if part is None:
        return None
    kind, text = part
    if kind == "float":
        return special(float(text))
    if kind == "int":
        return int(text)
    if kind == "bool":
        return text == "true"
    if kind == "datetime":
        return datetime.fromtimestamp(int(text) / 1000, UTC).isoformat(timespec="milliseconds")
    if kind == "stringSet":
        return json.loads(text)
    if kind == "fileRef":
        return {"path": text}
    return text


# -- cursors ------------------------------------------------------------------------------------------------------
def _digest(value: Any) -> str:
    return hashlib.blake2b(json.dumps(value, sort_keys=True).encode(), digest_size=8).hexdigest()


def _pack(payload: Any) -> str:
    body = json.dumps(payload, separators=(",", ":"))
    return base64.urlsafe_b64encode(f"{_digest(body)}.{body}".encode()).decode().rstrip("=")


def _unpack(text: str, name: str) -> Any:
    bad = InvalidInput(f"{name}: cursor is not valid: not one this API gave (edited, truncated, or from another "
                       "request)", field=name)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        check, body = raw.split(".", 1)
        if check != _digest(body):
            raise bad
        return json.loads(body)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None


def _encode_position(position: SortPosition, scope: str) -> str:
    return _pack({"s": scope, "k": [list(k) for k in position.keys], "r": position.run_id})


def _decode_position(text: str, sort: tuple[SortKey, ...], scope: str) -> SortPosition:
    payload = _unpack(text, "after")
    bad = InvalidInput("after: cursor belongs to another listing (another query or sort); start again without it",
                       field="after")
    if not isinstance(payload, dict) or payload.get("s") != scope or not isinstance(payload.get("r"), str):
        raise bad
    keys = payload.get("k")
    if not isinstance(keys, list) or len(keys) != len(sort):
        raise bad
    decoded: list[tuple[int, float | str]] = []
    for key, (rank, value) in zip(sort, keys, strict=True):
        if rank not in (0, 1, 2) or not isinstance(value, str if key.text else (int, float)) \
                or isinstance(value, bool):
            raise bad
        decoded.append((rank, value))
    return SortPosition(tuple(decoded), payload["r"])


def _encode_group(key: GroupKey) -> str:
    return _pack([list(p) if p is not None else None for p in key.parts])


def _decode_group(text: str, size: int, name: str) -> GroupKey:
    payload = _unpack(text, name)
    bad = InvalidInput(f"{name}: cursor is not valid: not a group key of this group_by", field=name)
    if not isinstance(payload, list) or len(payload) != size:
        raise bad
    parts: list[tuple[str, str] | None] = []
    for part in payload:
        if part is None:
            parts.append(None)
        elif (isinstance(part, list) and len(part) == 2 and part[0] in ATTRIBUTE_KINDS
              and isinstance(part[1], str)):
            parts.append((part[0], part[1]))
        else:
            raise bad
    return GroupKey(tuple(parts))
