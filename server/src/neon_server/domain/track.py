"""Track: training runs, their attributes and series, as every producer hands them to the service.

Three producers write runs: the Neptune ingest protocol (neptune-scale), Neon's native client (`neon.track`)
and the neptune-exporter importer. Each turns what it reads into these types; the service validates them and
the writer stores them. Points travel in columns (`RunWrites`), never as one object per point, so that a
batch of a million points costs list appends, not object construction.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, Literal

import pyarrow as pa

# Paths are Neptune's attribute names: any characters but the empty string, up to 1024 bytes.
MAX_PATH_BYTES = 1024
MAX_STRING_BYTES = 1 << 20  # a string attribute or string-series point
MAX_STRING_SET = 1024  # values in one string set
MAX_HISTOGRAM_BINS = 512
MAX_RUN_ID_CHARS = 730  # Neptune's custom run id limit
RUN_ID_PATTERN = re.compile(r"^[^\x00-\x1f/]{1,730}$")  # printable, no '/': it appears in `ws/proj/RUN` paths

# Attribute types, as Neptune's backend names them (neptune-query reads these names back).
FLOAT, INT, BOOL, STRING, DATETIME, STRING_SET, FILE_REF = (
    "float", "int", "bool", "string", "datetime", "stringSet", "fileRef")
FLOAT_SERIES, STRING_SERIES, HISTOGRAM_SERIES, FILE_SERIES = (
    "floatSeries", "stringSeries", "histogramSeries", "fileRefSeries")
ATTRIBUTE_TYPES = (FLOAT, INT, BOOL, STRING, DATETIME, STRING_SET, FILE_REF)
SERIES_TYPES = (FLOAT_SERIES, STRING_SERIES, HISTOGRAM_SERIES, FILE_SERIES)


class TrackCode(IntEnum):
    """What became of one operation. The numbers are Neptune's `IngestCode`, so the Neptune protocol can answer
    with them as they are; the native API answers with the names."""

    OK = 0
    PROJECT_NOT_FOUND = 8
    PROJECT_INVALID_NAME = 9
    RUN_NOT_FOUND = 10
    RUN_DUPLICATE = 11
    RUN_CONFLICTING = 12
    RUN_FORK_PARENT_NOT_FOUND = 13
    RUN_INVALID_CREATION_PARAMETERS = 14
    FIELD_PATH_EXCEEDS_SIZE_LIMIT = 16
    FIELD_PATH_EMPTY = 17
    FIELD_PATH_INVALID = 18
    FIELD_PATH_NON_WRITABLE = 19
    FIELD_TYPE_UNSUPPORTED = 20
    FIELD_TYPE_CONFLICTING = 21
    SERIES_STEP_INVALID = 41
    DATETIME_VALUE_OUT_OF_RANGE = 33
    STRING_VALUE_EXCEEDS_SIZE_LIMIT = 36
    STRING_SET_EXCEEDS_SIZE_LIMIT = 37
    HISTOGRAM_BIN_EDGES_CONTAINS_NAN = 50
    HISTOGRAM_TOO_MANY_BINS = 51
    HISTOGRAM_BIN_EDGES_NOT_INCREASING = 52
    HISTOGRAM_VALUES_LENGTH_DOESNT_MATCH_BINS = 53
    INTERNAL = 64


@dataclass(frozen=True)
class Rejection:
    """Some of an operation that was not stored, and why (the rest of the operation was)."""

    code: TrackCode
    count: int
    message: str


@dataclass(frozen=True)
class Outcome:
    """The answer to one operation, given only once what was accepted is durably written."""

    code: TrackCode = TrackCode.OK  # OK, or the run-level refusal (nothing written)
    message: str = ""
    accepted: int = 0  # attributes, set changes and points written
    rejections: tuple[Rejection, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code == TrackCode.OK


@dataclass(frozen=True)
class ForkPoint:
    parent_run_id: str
    step: float


@dataclass(frozen=True)
class RunCreate:
    """A new run. `run_id` is the caller's id (Neptune's custom run id); the server adds the short id."""

    run_id: str
    experiment_name: str = ""
    creation_time: datetime | None = None  # None: now
    fork: ForkPoint | None = None
    family: str = ""  # Neptune's run family; the run id when not given
    owner: str = ""


@dataclass(frozen=True)
class TrackRun:
    """A stored run."""

    project_id: str
    run_id: str
    short_id: str  # NEON-12
    experiment_name: str
    family: str
    owner: str
    created_at: datetime
    fork_parent_run_id: str = ""
    fork_step: float | None = None


@dataclass(frozen=True)
class FileRef:
    path: str  # where the bytes live in the file store (a key under the project)
    size_bytes: int = 0
    mime_type: str = ""


@dataclass(frozen=True)
class Histogram:
    bin_edges: tuple[float, ...]
    values: tuple[float, ...]
    kind: str = "counts"  # or "densities"


# A typed attribute value. bool is checked before int (it is one), frozenset is a string set.
AttributeValue = bool | int | float | str | datetime | frozenset[str] | FileRef


def attribute_type(value: AttributeValue) -> str:  # noqa: PLR0911 - one answer per type
    """The backend type name of an attribute value."""
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    if isinstance(value, str):
        return STRING
    if isinstance(value, datetime):
        return DATETIME
    if isinstance(value, frozenset):
        return STRING_SET
    if isinstance(value, FileRef):
        return FILE_REF
    raise TypeError(f"unsupported attribute value {type(value).__name__}")


def step_of(whole: int, micro: int) -> float:
    """Neptune's `Step{whole, micro}` as one Float64 step (micro is millionths)."""
    return whole + micro / 1_000_000


def utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# The columns of float points in Arrow form (RunWrites.float_arrow); time is epoch milliseconds.
FLOAT_SCHEMA = pa.schema([("path", pa.string()), ("step", pa.float64()), ("time_ms", pa.float64()),
                          ("value", pa.float64()), ("preview", pa.bool_()), ("ratio", pa.float32())])


@dataclass
class RunWrites:
    """Everything one request writes to one run, in columns. Producers append; the service validates.

    Times are epoch milliseconds (float). For every series the column lists run in parallel: entry i of
    `float_path`, `float_step`, `float_time`, `float_value`, `float_preview`, `float_ratio` is one point.
    """

    run_id: str
    # assigned attributes, last assignment of a path wins
    assign: dict[str, AttributeValue] = field(default_factory=dict)
    assign_time: dict[str, float] = field(default_factory=dict)
    # string-set changes in order: (path, value, add?)
    set_changes: list[tuple[str, str, bool]] = field(default_factory=list)
    float_path: list[str] = field(default_factory=list)
    float_step: list[float] = field(default_factory=list)
    float_time: list[float] = field(default_factory=list)
    float_value: list[float] = field(default_factory=list)
    float_preview: list[bool] = field(default_factory=list)
    float_ratio: list[float] = field(default_factory=list)
    string_path: list[str] = field(default_factory=list)
    string_step: list[float] = field(default_factory=list)
    string_time: list[float] = field(default_factory=list)
    string_value: list[str] = field(default_factory=list)
    string_preview: list[bool] = field(default_factory=list)
    string_ratio: list[float] = field(default_factory=list)
    histogram_path: list[str] = field(default_factory=list)
    histogram_step: list[float] = field(default_factory=list)
    histogram_time: list[float] = field(default_factory=list)
    histogram_value: list[Histogram] = field(default_factory=list)
    histogram_preview: list[bool] = field(default_factory=list)
    histogram_ratio: list[float] = field(default_factory=list)
    file_path: list[str] = field(default_factory=list)
    file_step: list[float] = field(default_factory=list)
    file_time: list[float] = field(default_factory=list)
    file_value: list[FileRef] = field(default_factory=list)
    file_preview: list[bool] = field(default_factory=list)
    file_ratio: list[float] = field(default_factory=list)
    # Float points already in columns (the native binary path): an Arrow table with the columns of FLOAT_SCHEMA,
    # taken as they are, beside any points appended above.
    float_arrow: pa.Table | None = None

    def set_attribute(self, path: str, value: AttributeValue, time_ms: float) -> None:
        self.assign[path] = value
        self.assign_time[path] = time_ms

    def add_float(self, path: str, step: float, time_ms: float, value: float, *,
                  preview: bool = False, ratio: float = 1.0) -> None:
        self.float_path.append(path)
        self.float_step.append(step)
        self.float_time.append(time_ms)
        self.float_value.append(value)
        self.float_preview.append(preview)
        self.float_ratio.append(ratio)

    def add_string(self, path: str, step: float, time_ms: float, value: str, *,
                   preview: bool = False, ratio: float = 1.0) -> None:
        self.string_path.append(path)
        self.string_step.append(step)
        self.string_time.append(time_ms)
        self.string_value.append(value)
        self.string_preview.append(preview)
        self.string_ratio.append(ratio)

    def add_histogram(self, path: str, step: float, time_ms: float, value: Histogram, *,
                      preview: bool = False, ratio: float = 1.0) -> None:
        self.histogram_path.append(path)
        self.histogram_step.append(step)
        self.histogram_time.append(time_ms)
        self.histogram_value.append(value)
        self.histogram_preview.append(preview)
        self.histogram_ratio.append(ratio)

    def add_file(self, path: str, step: float, time_ms: float, value: FileRef, *,
                 preview: bool = False, ratio: float = 1.0) -> None:
        self.file_path.append(path)
        self.file_step.append(step)
        self.file_time.append(time_ms)
        self.file_value.append(value)
        self.file_preview.append(preview)
        self.file_ratio.append(ratio)

    @property
    def size(self) -> int:
        """How many things this writes (attributes, set changes and points)."""
        arrow = self.float_arrow.num_rows if self.float_arrow is not None else 0
        return (len(self.assign) + len(self.set_changes) + len(self.float_path) + len(self.string_path)
                + len(self.histogram_path) + len(self.file_path) + arrow)


def is_finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


@dataclass
class SeriesSummary:
    """What the store keeps per series at write time (statistics over finite values; NaN and ±Inf counted)."""

    type: str
    count: int = 0
    finite_count: int = 0
    nan_count: int = 0
    posinf_count: int = 0
    neginf_count: int = 0
    first_step: float = math.inf
    last_step: float = -math.inf
    last_value: float = math.nan
    min_value: float = math.nan
    max_value: float = math.nan
    mean_value: float = math.nan
    sum_sq_dev: float = 0.0
    last_time_ms: float = 0.0
    first_time_ms: float = 0.0
    rewritten: bool = False  # a step was logged again: the points table may hold replaced rows until merged

    @property
    def variance(self) -> float:
        return self.sum_sq_dev / self.finite_count if self.finite_count else math.nan


@dataclass(frozen=True)
class Segment:
    """Points of one run's series that belong to a stitched series: a fork's ancestors contribute their points up
    to the step the lineage forked at (`max_step`); the run itself contributes all of its own (None)."""

    run_id: str
    max_step: float | None = None


@dataclass(frozen=True)
class Bucket:
    """Neptune's bucket: the points with from_x < x <= to_x (the first bucket also holds x == from_x).
    first/last are the first and last finite points by x; min, max and sum are over finite values."""

    index: int
    from_x: float
    to_x: float
    first: tuple[float, float] | None
    last: tuple[float, float] | None
    min: float | None
    max: float | None
    finite_count: int
    nan_count: int
    posinf_count: int
    neginf_count: int
    sum: float | None


BUCKET_COLUMNS = ("index", "from_x", "to_x", "first_x", "first_y", "last_x", "last_y", "min", "max", "sum",
                  "finite_count", "nan_count", "posinf_count", "neginf_count")


@dataclass(frozen=True)
class SeriesBuckets:
    """One series bucketed: `columns` (BUCKET_COLUMNS, one entry per bucket holding points, by index; first/last,
    min, max and sum are None in a bucket without finite values), or — when the range holds no more points than
    buckets were asked for — the points themselves, exactly (`exact`, `points` as (x, y))."""

    from_x: float | None
    to_x: float | None
    columns: dict[str, list[Any]] = field(default_factory=dict)
    exact: bool = False
    points: tuple[tuple[float, float], ...] = ()

    @property
    def buckets(self) -> tuple[Bucket, ...]:
        if not self.columns:
            return ()
        size = len(self.columns["index"])
        c = {name: self.columns.get(name) or [None] * size for name in BUCKET_COLUMNS}
        return tuple(Bucket(
            index=c["index"][i], from_x=c["from_x"][i], to_x=c["to_x"][i],
            first=(c["first_x"][i], c["first_y"][i]) if c["first_x"][i] is not None else None,
            last=(c["last_x"][i], c["last_y"][i]) if c["last_x"][i] is not None else None,
            min=c["min"][i], max=c["max"][i], finite_count=c["finite_count"][i], nan_count=c["nan_count"][i],
            posinf_count=c["posinf_count"][i], neginf_count=c["neginf_count"][i], sum=c["sum"][i])
            for i in range(len(c["index"])))

XAxis = Literal["step", "time", "relative", "metric"]
MAX_BUCKETS = 1_000  # per series, as Neptune


@dataclass(frozen=True)
class BucketQuery:
    n: int = MAX_BUCKETS
    x: XAxis = "step"
    x_path: str = ""  # the metric whose value is x (x = "metric")
    window: tuple[float, float] | None = None  # in x units
    log_x: bool = False
    shared_range: bool = False
    first_alone: bool = False
    include_preview: bool = True
    fields: tuple[str, ...] = BUCKET_COLUMNS  # the bucket columns to answer ("index" always comes)
