"""Request and answer shapes of the runs table (`POST /api/track/table`) and attribute-name search
(`GET /api/track/attributes`). Floats that JSON cannot hold travel as "NaN", "Infinity", "-Infinity"."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from neon_server.domain.track_table import MAX_COLUMNS, MAX_GROUP_BY, MAX_GROUP_LIMIT, MAX_LIMIT, MAX_SORT

ColumnType = Literal["float", "int", "bool", "string", "datetime", "stringSet", "fileRef", "floatSeries",
                     "stringSeries", "histogramSeries", "fileRefSeries"]
Aggregate = Literal["last", "min", "max", "average", "variance", "count", "last_step"]
SPECIAL = 'a number, or "NaN", "Infinity", "-Infinity"'
Path = Annotated[str, Field(min_length=1, max_length=1024)]


def _whole_float(value: Any) -> Any:
    """JSON Schema's integers include 100.0: take it as 100 (the strict model refuses strings and bools)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Count = Annotated[int, BeforeValidator(_whole_float)]


class TableColumn(BaseModel):
    model_config = ConfigDict(strict=True)
    path: Path = Field(description="an attribute or series path, sys/* included")
    type: ColumnType | None = Field(None, description="which stored value; without one, the path's type in the "
                                                      "project (with an aggregate: floatSeries)")
    aggregate: Aggregate | None = Field(None, description="series only: last (the default for a float series), "
                                                          "min, max, average, variance (population), count, "
                                                          "last_step; other series: count (default), last_step")


class TableSort(TableColumn):
    direction: Literal["asc", "desc"] = Field("asc", description="runs without the value come last either way; "
                                                                  "ties are ordered by run id")


class TableRequest(BaseModel):
    model_config = ConfigDict(strict=True)
    query: str | None = Field(None, max_length=100_000, description="NQL filter (docs/track.md#nql-choosing-runs)")
    columns: list[TableColumn] = Field([], max_length=MAX_COLUMNS, description="the values to answer per run")
    sort: list[TableSort] = Field([], max_length=MAX_SORT,
                                  description="default: sys/creation_time descending; then run id")
    limit: Count = Field(100, ge=1, le=MAX_LIMIT, description="rows per page")
    after: str | None = Field(None, min_length=1, max_length=8192,
                              description="`next_cursor` of the previous page")
    group_by: list[Path] = Field([], max_length=MAX_GROUP_BY,
                                 description="attribute paths: answer groups of runs (nested by the order given) "
                                             "instead of rows")
    group: str | None = Field(None, min_length=1, max_length=8192,
                              description="a group's `key`: answer that group's runs")
    group_limit: Count = Field(100, ge=1, le=MAX_GROUP_LIMIT, description="groups per page")
    group_after: str | None = Field(None, min_length=1, max_length=8192,
                                    description="`groups_next_cursor` of the previous page")


class TableColumnOut(BaseModel):
    path: str
    type: str | None = Field(description="the type answered; null when no run of the project has the path")
    aggregate: str | None


class TableRow(BaseModel):
    run_id: str
    short_id: str = Field(description="NEON-<n>")
    name: str = Field(description="sys/name")
    values: list[Any] = Field(description="one per column, null when the run has no such value; floats: " + SPECIAL
                                          + "; datetimes ISO 8601; string sets sorted lists; files "
                                          "{path, size_bytes, mime_type}")


class GroupColumn(BaseModel):
    count: int = Field(description="runs of the group with a finite value")
    mean: float | None
    std: float | None = Field(description="sample standard deviation (n − 1) over the group's runs; null under 2")
    min: float | None
    max: float | None


class TableGroup(BaseModel):
    key: str = Field(description="opaque: `group` answers this group's runs; `group_after` pages after it")
    values: list[Any] = Field(description="one per group_by path: the attribute's value, null for runs without it")
    types: list[str | None] = Field(description="the stored type of each value")
    runs: int
    columns: list[GroupColumn | None] = Field(description="one per column; null for columns that are not numbers")


class TableResponse(BaseModel):
    columns: list[TableColumnOut] = Field(description="the columns asked for, with their types resolved")
    rows: list[TableRow] = Field(description="in sort order; empty when grouping")
    next_cursor: str | None = Field(description="give as `after` for the next page; null on the last page")
    total: int = Field(description="runs matching the query (and the group)")
    groups: list[TableGroup] | None = Field(None, description="with group_by (and no group): ordered by key, "
                                                               "missing values last")
    groups_next_cursor: str | None = None


RUN_COUNT = " (exact up to about 1,000 runs, within about 1% beyond: a distinct-count sketch)"


class AttributeType(BaseModel):
    type: str
    runs: int = Field(description="runs with the path stored as this type" + RUN_COUNT)


class AttributeName(BaseModel):
    path: str
    runs: int = Field(description="runs with the path, whatever its type" + RUN_COUNT)
    types: list[AttributeType]


class AttributeNameList(BaseModel):
    attributes: list[AttributeName] = Field(description="ordered by path")
    next_cursor: str | None = Field(description="give as `after` for the next page; null on the last page")
