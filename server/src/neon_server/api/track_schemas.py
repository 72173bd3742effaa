"""Response shapes of Track's read endpoints (`/api/track/runs…`), for the OpenAPI schema and the UI's client.

JSON has no NaN or infinities: such floats travel as the strings "NaN", "Infinity" and "-Infinity".
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

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
