"""Response shapes of Track's read endpoints (`/api/track/runs…`), for the OpenAPI schema and the UI's client.

JSON has no NaN or infinities: such floats travel as the strings "NaN", "Infinity" and "-Infinity".
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from neon_server.domain.track import BUCKET_COLUMNS

ISO_TIME = "ISO 8601 with offset: 2026-01-02T03:04:05.123+00:00"
FloatOrSpecial = float | str
SPECIAL = 'a number, or "NaN", "Infinity", "-Infinity"'


class TrackRun(BaseModel):
    run_id: str = Field(description="the id the run was created with (Neptune's custom run id)")
    short_id: str = Field(description="NEON-<n>, numbered per project")
    experiment_name: str
    family: str
    owner: str
    created_at: str = Field(description=ISO_TIME)
    fork_parent_run_id: str = Field(description="the run this one forked from; empty when none")
    fork_step: float | None = Field(description="the parent's step the fork starts after")


class TrackRunList(BaseModel):
    runs: list[TrackRun] = Field(description="oldest first")


class Attribute(BaseModel):
    type: str = Field(description="float, int, bool, string, datetime, stringSet or fileRef")
    value: Any = Field(description="datetimes as ISO 8601, string sets as sorted lists, files as "
                                   "{path, size_bytes, mime_type}; floats: " + SPECIAL)


class SeriesSummary(BaseModel):
    type: str = Field(description="floatSeries, stringSeries, histogramSeries or fileRefSeries")
    count: int
    first_step: float
    last_step: float
    last_time: str = Field(description=ISO_TIME)
    finite_count: int = Field(description="float series: points with a finite value")
    nan_count: int
    posinf_count: int
    neginf_count: int
    last: FloatOrSpecial = Field(description="float series: the value at the last step; " + SPECIAL)
    min: FloatOrSpecial = Field(description="over finite values; " + SPECIAL)
    max: FloatOrSpecial = Field(description="over finite values; " + SPECIAL)
    average: FloatOrSpecial = Field(description="over finite values; " + SPECIAL)
    variance: FloatOrSpecial = Field(description="population variance over finite values; " + SPECIAL)


class TrackRunDetail(TrackRun):
    attributes: dict[str, Attribute] = Field(description="by path")
    series: dict[str, SeriesSummary] = Field(description="by path, kept at write time")


class Point(BaseModel):
    step: float
    time: str = Field(description=ISO_TIME)
    preview: bool
    completion_ratio: float
    value: Any = Field(description="float: " + SPECIAL + "; string: the text; histogram: {type, edges, values}; "
                                   "file: {path, size_bytes, mime_type}")


class PointList(BaseModel):
    run_id: str
    path: str
    kind: str
    points: list[Point] = Field(description="in step order")


class SeriesRef(BaseModel):
    model_config = ConfigDict(strict=True)  # a bool is a bool, a number a number: as the document says
    run_id: str = Field(min_length=1, max_length=730, pattern=r"^[^\x00-\x1f/]+$")
    path: str = Field(min_length=1, max_length=1024)


BucketField = Literal["index", "from_x", "to_x", "first_x", "first_y", "last_x", "last_y", "min", "max", "sum",
                      "finite_count", "nan_count", "posinf_count", "neginf_count"]


def _whole_float(value: Any) -> Any:
    """JSON Schema's integers include 1000.0: take it as 1000 (the strict model refuses strings and bools)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class BucketsRequest(BaseModel):
    model_config = ConfigDict(strict=True)
    series: list[SeriesRef] = Field(min_length=1, max_length=1000, description="float series to bucket")
    buckets: Annotated[int, BeforeValidator(_whole_float)] = Field(
        1000, ge=1, le=1000, description="how many equal-width buckets to cut the x range into")
    x: Literal["step", "time", "relative", "metric"] = Field(
        "step", description="step; time (epoch ms); relative (ms since the series' first point); metric (x_path's "
                            "value at the same step)")
    x_path: str = Field("", max_length=1024, description="for x = metric: the metric on the x axis")
    from_x: float | None = Field(None, description="a window's start (zoom); with to_x")
    to_x: float | None = Field(None, description="a window's end (zoom); with from_x")
    log_x: bool = Field(False, description="cut buckets on log10(x); points with x ≤ 0 are left out")
    shared_range: bool = Field(False, description="one x range for every series (default: each its own)")
    lineage: bool = Field(True, description="a fork's series starts with its ancestors' points up to the fork")
    include_preview: bool = Field(True, description="include points logged as previews")
    fields: list[BucketField] | None = Field(
        None, max_length=len(BUCKET_COLUMNS), description="the bucket columns to answer (default: all; `index` "
        "always comes): a chart of many runs that draws a line and its band needs only "
        "index, last_x, last_y, min and max, a third of the answer")


class BucketColumns(BaseModel):
    """One entry per bucket that holds points, by index (columns, as charts draw them); the columns asked for in
    `fields` (default: all)."""

    index: list[int]
    from_x: list[float] | None = Field(None, description="exclusive, except in bucket 0 of a series")
    to_x: list[float] | None = Field(None, description="inclusive")
    first_x: list[float | None] | None = Field(
        None, description="the first finite point by x; null without finite values")
    first_y: list[float | None] | None = None
    last_x: list[float | None] | None = Field(None, description="the last finite point by x")
    last_y: list[float | None] | None = None
    min: list[float | None] | None = Field(None, description="over finite values")
    max: list[float | None] | None = None
    sum: list[float | None] | None = None
    finite_count: list[int] | None = None
    nan_count: list[int] | None = None
    posinf_count: list[int] | None = None
    neginf_count: list[int] | None = None


class SeriesBucketsOut(BaseModel):
    run_id: str
    path: str
    from_x: float | None = Field(description="the x range bucketed; null when the series has no points in range")
    to_x: float | None
    exact: bool = Field(description="true: no more points than buckets, so `points` holds them all")
    points: list[list[FloatOrSpecial]] = Field(description="[x, y] pairs when exact; y: " + SPECIAL)
    buckets: BucketColumns = Field(description="the buckets holding points, when not exact")


class BucketsResponse(BaseModel):
    series: list[SeriesBucketsOut] = Field(description="in request order")
