"""Shapes of saved views, dashboards and reports. A dashboard's spec is `DashboardSpec` of the web UI's
`features/track/blocks/spec.ts`: checked here, field by field, so a bad one is refused (422 naming the field)
before anything is stored. A block's `options` are the block type's own (spec.ts) and kept as given."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from neon_server.api.track_table_schemas import TableColumn, TableSort
from neon_server.domain.track import RUN_ID_PATTERN
from neon_server.domain.track_table import MAX_COLUMNS, MAX_GROUP_BY, MAX_SORT

MAX_SECTIONS = 50
MAX_BLOCKS = 200
MAX_OPTIONS_BYTES = 64 * 1024
MAX_REPORT_RUNS = 1000
GRID_COLUMNS = 12

BlockType = Literal["line", "scatter", "value", "table", "histogram", "image", "markdown"]


def _unicode(value: str) -> str:
    """JSON may carry lone UTF-16 surrogates (`"\\ud800"`), which no database stores as text."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (a lone surrogate)") from None
    return value


Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S"), AfterValidator(_unicode)]
Title = Annotated[str, Field(max_length=200), AfterValidator(_unicode)]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
RunId = Annotated[str, Field(pattern=RUN_ID_PATTERN.pattern, description="a run's id")]
GroupPath = Annotated[str, Field(min_length=1, max_length=1024)]


def _small_json(value: dict[str, Any]) -> dict[str, Any]:
    try:
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode())
    except ValueError:
        raise ValueError("must be JSON without NaN or Infinity") from None
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (a lone surrogate)") from None
    if size > MAX_OPTIONS_BYTES:
        raise ValueError(f"must be at most {MAX_OPTIONS_BYTES // 1024} KB as JSON")
    return value


class Checked(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


def _integral(value: Any) -> Any:
    """JSON has one number type: 9.0 is the integer 9 (as JSON Schema's `integer` says), 9.5 is not one."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


GridInt = Annotated[int, BeforeValidator(_integral)]  # strict otherwise: "9" and true stay refused


# ---------------------------------------------------------------- saved views
class ViewState(Checked):
    """The runs table's state, as its address records it."""

    query: str | None = Field(None, max_length=100_000, description="NQL filter")
    columns: list[TableColumn] = Field([], max_length=MAX_COLUMNS)
    sort: list[TableSort] = Field([], max_length=MAX_SORT)
    group_by: list[GroupPath] = Field([], max_length=MAX_GROUP_BY)

    @model_validator(mode="after")
    def _storable(self) -> ViewState:
        _small_json(self.model_dump())
        return self


class ViewCreate(Checked):
    name: Name = Field(description="unique in the project")
    state: ViewState


class ViewUpdate(Checked):
    name: Name | None = Field(None, description="a new name (unique in the project)")
    state: ViewState | None = Field(None, description="the new state")


class ViewOut(BaseModel):
    id: str
    name: str
    state: ViewState
    created_at: str
    updated_at: str


class ViewList(BaseModel):
    views: list[ViewOut] = Field(description="by name")


# ---------------------------------------------------------------- dashboard specs
class BlockLayout(Checked):
    """A block's place in the 12-column grid; y and h count rows."""

    x: GridInt = Field(ge=0, le=GRID_COLUMNS - 1)
    y: GridInt = Field(ge=0, le=100_000)
    w: GridInt = Field(ge=1, le=GRID_COLUMNS)
    h: GridInt = Field(ge=1, le=200)

    @model_validator(mode="after")
    def _fits(self) -> BlockLayout:
        if self.x + self.w > GRID_COLUMNS:
            raise ValueError(f"x + w must be at most {GRID_COLUMNS} (the 12-column grid)")
        return self


class BlockSpec(Checked):
    id: Id
    type: BlockType
    title: Title = ""
    layout: BlockLayout
    options: dict[str, Any] = Field(description="the block type's options (web/src/features/track/blocks/spec.ts); "
                                                "at most 64 KB as JSON")

    @field_validator("options")
    @classmethod
    def _options_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _small_json(value)


class DynamicSpec(Checked):
    """A block of `template` for every metric matching `regex`, re-evaluated as the runs gain metrics."""

    regex: Annotated[str, AfterValidator(_unicode)] = Field(min_length=1, max_length=1000,
                                                            description="a regular expression over metric paths")
    template: dict[str, Any] = Field(description="a line block's options without `metrics`; at most 64 KB as JSON")

    @field_validator("template")
    @classmethod
    def _template_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _small_json(value)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
        return value


class SectionSpec(Checked):
    id: Id
    title: Title = ""
    collapsed: bool = False
    dynamic: DynamicSpec | None = Field(None, description="null for a section of saved blocks")
    blocks: list[BlockSpec] = Field([], max_length=MAX_BLOCKS)


class DashboardSpec(Checked):
    sections: list[SectionSpec] = Field([], max_length=MAX_SECTIONS)

    @model_validator(mode="after")
    def _limits(self) -> DashboardSpec:
        blocks = [b for s in self.sections for b in s.blocks]
        if len(blocks) > MAX_BLOCKS:
            raise ValueError(f"sections: at most {MAX_BLOCKS} blocks in all, got {len(blocks)}")
        for kind, ids in (("section", [s.id for s in self.sections]), ("block", [b.id for b in blocks])):
            seen: set[str] = set()
            for item in ids:
                if item in seen:
                    raise ValueError(f"sections: {kind} id {item!r} appears twice")
                seen.add(item)
        return self


def _empty_spec() -> DashboardSpec:
    return DashboardSpec(sections=[])


# ---------------------------------------------------------------- dashboards
class DashboardCreate(Checked):
    name: Name = Field(description="unique in the project")
    spec: DashboardSpec = Field(default_factory=_empty_spec, description="version 1")


class DashboardSave(Checked):
    spec: DashboardSpec = Field(description="saved as the newest version")
    name: Name | None = Field(None, description="a new name (unique in the project)")


class DashboardVersionOut(BaseModel):
    version: int = Field(description="1, 2, …")
    author: str = Field(description="the name of the API key that saved it")
    saved_at: str


class DashboardSummary(DashboardVersionOut):
    id: str
    name: str
    created_at: str


class DashboardOut(DashboardSummary):
    latest_version: int = Field(description="the newest version (`version` is the one answered)")
    spec: DashboardSpec


class DashboardList(BaseModel):
    dashboards: list[DashboardSummary] = Field(description="by name, each with its newest version")


class DashboardVersionList(BaseModel):
    versions: list[DashboardVersionOut] = Field(description="newest first")


# ---------------------------------------------------------------- reports
class ReportGroup(Checked):
    name: Name
    runs: list[RunId] = Field(min_length=1, max_length=MAX_REPORT_RUNS)


class ReportCreate(Checked):
    name: Name
    spec: DashboardSpec = Field(default_factory=_empty_spec)
    runs: list[RunId] = Field([], max_length=MAX_REPORT_RUNS, description="the runs the report shows, fixed")
    groups: list[ReportGroup] = Field([], max_length=50, description="groups of runs, each drawn as one line")


class ReportUpdate(Checked):
    name: Name | None = None
    spec: DashboardSpec | None = None
    runs: list[RunId] | None = Field(None, max_length=MAX_REPORT_RUNS)
    groups: list[ReportGroup] | None = Field(None, max_length=50)


class SharedReport(BaseModel):
    """A report as its share link shows it."""

    id: str
    name: str
    spec: DashboardSpec
    runs: list[str]
    groups: list[ReportGroup]
    updated_at: str


class ReportOut(SharedReport):
    shared: bool = Field(description="whether a share link is live")
    shared_at: str | None
    created_at: str


class ReportList(BaseModel):
    reports: list[ReportOut]


class ShareLink(BaseModel):
    token: str = Field(description="shown only now: whoever holds it reads this report without a key")
    path: str = Field(description="the web UI's page for the link: /share/reports/<token>")
