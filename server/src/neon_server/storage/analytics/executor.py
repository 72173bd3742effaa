"""The one chokepoint through which every analytical query runs.

Every statement goes through `AnalyticsDB` with bound parameters (`{name:Type}` placeholders, never
values spliced into SQL) and a query tag, so that each query can be found in logs and in ClickHouse's
`system.query_log` (as `log_comment` on a server, as a leading comment on both).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import Any, Protocol

import pyarrow as pa

log = logging.getLogger("neon.analytics")

TAG_PATTERN = re.compile(r"^[a-z][a-z0-9_.:-]{0,79}$")
PLACEHOLDER = re.compile(r"\{(\w+):")  # a bound parameter: {name:Type}
IDENTIFIER_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
SLOW_QUERY_SECONDS = 1.0

Params = Mapping[str, Any]


class SqlParams:
    """The bound parameters of one statement being built: `add` keeps a value and returns its placeholder
    (`{name:Type}`), so no value is ever part of the SQL text. The prefix keeps names apart when statements
    built by different code are combined."""

    def __init__(self, values: Mapping[str, Any] | None = None, *, prefix: str = "p") -> None:
        self.values: dict[str, Any] = dict(values or {})
        self.prefix = prefix

    def add(self, value: Any, kind: str) -> str:
        name = f"{self.prefix}{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{kind}}}"


class AnalyticsError(RuntimeError):
    """A failed analytical statement; the message carries the query tag and the engine's reason."""


class DataFolderLocked(AnalyticsError):
    """The embedded data folder is owned by another process."""


class QueryBackend(Protocol):
    """What an analytics engine must do; `AnalyticsDB` adds tagging, timing and error wrapping."""

    kind: str
    database: str

    def command(self, sql: str, params: Params, tag: str) -> None: ...

    def query_arrow(self, sql: str, params: Params, tag: str) -> pa.Table: ...

    def insert_arrow(self, table: str, data: pa.Table, tag: str, settings: dict[str, int] | None = None) -> None: ...

    def close(self) -> None: ...


def check_tag(tag: str) -> str:
    if not TAG_PATTERN.match(tag):
        raise ValueError(f"query tag {tag!r} must match {TAG_PATTERN.pattern}")
    return tag


def check_identifier(name: str) -> str:
    if not IDENTIFIER_PATTERN.match(name):
        raise ValueError(f"{name!r} is not a plain SQL identifier")
    return name


def used_params(sql: str, params: Params | None) -> dict[str, Any]:
    """The parameters the statement refers to. A builder may bind values it ends up not using (parts it did
    not need), and the engine parses every parameter it is sent: 900 unused ones cost chDB ~100 ms."""
    if not params:
        return {}
    named = set(PLACEHOLDER.findall(sql))
    return {name: value for name, value in params.items() if name in named}


def tagged(sql: str, tag: str) -> str:
    """Prefix the SQL with its tag as a comment (the tag is checked against TAG_PATTERN first)."""
    return f"/* neon:{check_tag(tag)} */ {sql}"


class AnalyticsDB:
    """Runs every analytical statement: parameters bound, tag required, time and failures logged."""

    def __init__(self, backend: QueryBackend) -> None:
        self._backend = backend

    @property
    def kind(self) -> str:
        return self._backend.kind

    @property
    def database(self) -> str:
        return self._backend.database

    def command(self, sql: str, *, tag: str, params: Params | None = None) -> None:
        """Run a statement that returns no rows (DDL, INSERT … SELECT, mutations)."""
        self._run(self._backend.command, sql, params, tag)

    def query(self, sql: str, *, tag: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column name (decoded from Arrow, so both backends give the same types)."""
        rows: list[dict[str, Any]] = self.query_arrow(sql, tag=tag, params=params).to_pylist()
        return rows

    def query_arrow(self, sql: str, *, tag: str, params: Params | None = None) -> pa.Table:
        """The result as an Arrow table: the fast path for large results."""
        table: pa.Table = self._run(self._backend.query_arrow, sql, params, tag)
        return table

    def insert_arrow(self, table: str, data: pa.Table, *, tag: str, settings: dict[str, int] | None = None) -> None:
        """Insert columnar data; the Arrow schema's column names must be columns of `table`. `settings` are
        ClickHouse settings for this insert (names checked as identifiers, values integers)."""
        check_identifier(table)
        for name in [*data.column_names, *(settings or {})]:
            check_identifier(name)
        started = time.perf_counter()
        try:
            self._backend.insert_arrow(table, data, check_tag(tag), {k: int(v) for k, v in (settings or {}).items()})
        except AnalyticsError:
            raise
        except Exception as exc:
            raise AnalyticsError(f"[{tag}] insert into {table} failed: {_reason(exc)}") from exc
        _log_timing(tag, started, rows=data.num_rows)

    def health(self) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            self.query("SELECT 1 AS ok", tag="health.ping")
        except Exception as exc:  # health reports failures, it does not raise them
            return {"status": "down", "backend": self.kind, "error": str(exc)}
        return {"status": "ok", "backend": self.kind, "database": self.database,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2)}

    def close(self) -> None:
        self._backend.close()

    def _run(self, method: Any, sql: str, params: Params | None, tag: str) -> Any:
        check_tag(tag)
        started = time.perf_counter()
        try:
            result = method(sql, used_params(sql, params), tag)
        except AnalyticsError:
            raise
        except Exception as exc:
            raise AnalyticsError(f"[{tag}] {_reason(exc)}") from exc
        _log_timing(tag, started)
        return result


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if len(first) <= 600 else first[:600] + "…"


def _log_timing(tag: str, started: float, rows: int | None = None) -> None:
    elapsed = time.perf_counter() - started
    fields: dict[str, Any] = {"tag": tag, "ms": round(elapsed * 1000, 2)}
    if rows is not None:
        fields["rows"] = rows
    if elapsed >= SLOW_QUERY_SECONDS:
        log.warning("slow analytics query", extra={"fields": fields})
    elif log.isEnabledFor(logging.DEBUG):
        log.debug("analytics query", extra={"fields": fields})
