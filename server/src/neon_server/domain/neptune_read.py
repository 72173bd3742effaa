"""The JSON bodies neptune-query sends to read runs (Neptune's leaderboard API), as it sends them.

Field names are Neptune's (camelCase). Unknown fields are ignored, as Neptune's server did: the client's
generated models pass through extra keys. Sizes are bounded so that one request cannot ask for unbounded work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_IDS = 10_000  # runs or series in one request
MAX_PAGE = 10_000  # runs in one search page (neptune-query asks for 10,000)
MAX_POINTS = 1_000_000  # points per series in one answer (neptune-query's own total)
MAX_REGEXES = 100
MAX_TEXT = 100_000


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Path(_Body):
    path: str = Field(max_length=1024)


class Pagination(_Body):
    limit: int = Field(default=MAX_PAGE, ge=0, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0)


class SortField(_Body):
    name: str = Field(default="sys/creation_time", max_length=1024)
    type: str | None = Field(default=None, max_length=64)
    aggregation_mode: str | None = Field(default=None, alias="aggregationMode", max_length=32)


class Sorting(_Body):
    dir: Literal["ascending", "descending"] = "descending"
    sort_by: SortField = Field(default_factory=SortField, alias="sortBy")
    aggregation_mode: str | None = Field(default=None, alias="aggregationMode", max_length=32)


class Query(_Body):
    query: str = Field(default="", max_length=MAX_TEXT)


class SearchBody(_Body):
    """`POST .../leaderboard/entries/search/` and `.../entries/global/search/`."""

    attribute_filters: list[Path] = Field(default_factory=list, alias="attributeFilters", max_length=MAX_IDS)
    pagination: Pagination = Field(default_factory=Pagination)
    experiment_leader: bool = Field(default=False, alias="experimentLeader")
    sorting: Sorting = Field(default_factory=Sorting)
    query: Query | None = None


class NameAlternative(_Body):
    must_match_regexes: list[str] = Field(default_factory=list, alias="mustMatchRegexes", max_length=MAX_REGEXES)
    must_not_match_regexes: list[str] = Field(default_factory=list, alias="mustNotMatchRegexes",
                                              max_length=MAX_REGEXES)


class NameFilterBody(_Body):
    must_match_any: list[NameAlternative] | None = Field(default=None, alias="mustMatchAny", max_length=MAX_REGEXES)


class TypeFilter(_Body):
    attribute_type: str = Field(alias="attributeType", max_length=64)


class NextPage(_Body):
    limit: int = Field(default=MAX_PAGE, ge=1, le=MAX_IDS)
    next_page_token: str | None = Field(default=None, alias="nextPageToken", max_length=4096)


class DefinitionsBody(_Body):
    """`POST .../leaderboard/attributes/definitions/query` (answered in JSON)."""

    project_identifiers: list[str] = Field(default_factory=list, alias="projectIdentifiers", max_length=10)
    experiment_ids_filter: list[str] | None = Field(default=None, alias="experimentIdsFilter", max_length=MAX_IDS)
    attribute_name_filter: NameFilterBody | None = Field(default=None, alias="attributeNameFilter")
    attribute_filter: list[TypeFilter] | None = Field(default=None, alias="attributeFilter", max_length=20)
    next_page: NextPage = Field(default_factory=NextPage, alias="nextPage")


class AttributesBody(_Body):
    """`POST .../proto/leaderboard/attributes/query`: values of some attributes of some runs."""

    experiment_ids_filter: list[str] = Field(default_factory=list, alias="experimentIdsFilter", max_length=MAX_IDS)
    attribute_names_filter: list[str] | None = Field(default=None, alias="attributeNamesFilter", max_length=MAX_IDS)
    attribute_name_filter: NameFilterBody | None = Field(default=None, alias="attributeNameFilter")
    attribute_filter: list[TypeFilter] | None = Field(default=None, alias="attributeFilter", max_length=20)
    next_page: NextPage = Field(default_factory=NextPage, alias="nextPage")


class Holder(_Body):
    identifier: str = Field(max_length=2048)
    type: str = "experiment"


class SeriesRef(_Body):
    holder: Holder
    attribute: str = Field(max_length=1024)
    lineage: Literal["FULL", "NONE", "ONLY_OWNED"] = "FULL"
    lineage_entity_type: Literal["EXPERIMENT", "RUN"] = Field(default="EXPERIMENT", alias="lineageEntityType")
    include_preview: bool = Field(default=False, alias="includePreview")


class SearchAfter(_Body):
    finished: bool = False
    token: str = Field(default="", max_length=4096)


class SeriesRequest(_Body):
    request_id: str = Field(alias="requestId", max_length=256)
    series: SeriesRef
    after_step: float | None = Field(default=None, alias="afterStep")
    search_after: SearchAfter | None = Field(default=None, alias="searchAfter")


class StepRange(_Body):
    from_: float | None = Field(default=None, alias="from")
    to: float | None = None


class PointsBody(_Body):
    """`POST .../proto/attributes/series/float` and `.../proto/attributes/series`."""

    requests: list[SeriesRequest] = Field(max_length=MAX_IDS)
    step_range: StepRange = Field(default_factory=StepRange, alias="stepRange")
    order: Literal["ascending", "descending"] = "ascending"
    per_series_points_limit: int | None = Field(default=None, alias="perSeriesPointsLimit", ge=0, le=MAX_POINTS)


@dataclass(frozen=True)
class RunRef:
    """A run as the read protocol addresses it: its id, short id (`sys/id`), experiment and fork parent."""

    run_id: str
    short_id: str
    experiment_name: str
    fork_parent_run_id: str
    fork_step: float | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> RunRef:
        return cls(row["run_id"], row["short_id"], row["experiment_name"], row["fork_parent_run_id"],
                   row["fork_step"])
