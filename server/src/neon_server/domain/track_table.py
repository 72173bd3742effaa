"""The runs table: which values a column shows, how rows are sorted, how runs are grouped.

A column is an attribute (float, int, bool, string, datetime, stringSet, fileRef; `sys/*` included) or a series
with an aggregate of its summary (a float series: last, min, max, average, variance, count, last_step; other
series: count, last_step). A run without the column's value shows null, and sorts after every value.
"""

from __future__ import annotations

from dataclasses import dataclass

ATTRIBUTE_KINDS = ("float", "int", "bool", "string", "datetime", "stringSet", "fileRef")
SERIES_KINDS = ("floatSeries", "stringSeries", "histogramSeries", "fileRefSeries")
FLOAT_AGGREGATES = ("last", "min", "max", "average", "variance", "count", "last_step")
OTHER_SERIES_AGGREGATES = ("count", "last_step")
NUMERIC_KINDS = frozenset({"float", "int"})
# Which type an untyped column takes when its path has several in the project (the first found).
TYPE_PREFERENCE = ("float", "int", "bool", "datetime", "string", "stringSet", "fileRef", "floatSeries",
                   "stringSeries", "histogramSeries", "fileRefSeries")

MAX_COLUMNS = 200
MAX_SORT = 8
MAX_GROUP_BY = 4
MAX_LIMIT = 1_000
MAX_GROUP_LIMIT = 1_000


@dataclass(frozen=True)
class Column:
    path: str
    type: str | None  # None: the path's type in the project (resolved by the service)
    aggregate: str | None = None  # series only; None: last for a float series, count otherwise

    @property
    def is_series(self) -> bool:
        return self.type in SERIES_KINDS

    @property
    def numeric(self) -> bool:
        """Whether its values are numbers (group aggregates are computed for these)."""
        return self.type in NUMERIC_KINDS or self.is_series


@dataclass(frozen=True)
class SortKey:
    column: Column
    descending: bool = False

    @property
    def text(self) -> bool:
        """Compared as text (strings, string sets, file paths), not as a number."""
        return self.column.type in ("string", "stringSet", "fileRef", None)


@dataclass(frozen=True)
class SortPosition:
    """Where a row sits in the order: per sort key (rank: 0 a value, 1 NaN, 2 missing; the value, or 0 / ''
    when ranked 1 or 2), then the run id."""

    keys: tuple[tuple[int, float | str], ...]
    run_id: str


@dataclass(frozen=True)
class GroupKey:
    """One group's key: per group-by path, (stored type, value as text) or None for runs without it."""

    parts: tuple[tuple[str, str] | None, ...]


@dataclass
class GroupStats:
    key: GroupKey
    runs: int
    # per numeric column index: (count of runs with a finite value, mean, sample std, min, max)
    columns: dict[int, tuple[int, float | None, float | None, float | None, float | None]]
