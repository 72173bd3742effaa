"""Request and answer shapes of Track formulas (`/api/track/formula…`), for the OpenAPI schema and the UI."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from neon_server.api.track_schemas import SPECIAL, BucketColumns, BucketField, FloatOrSpecial, _whole_float
from neon_server.domain.track import BUCKET_COLUMNS
from neon_server.track.formula import MAX_CHARS

RunIdField = Annotated[str, Field(min_length=1, max_length=730, pattern=r"^[^\x00-\x1f/]+$")]
FORMULA_HELP = ("e.g. `ema(${train/loss}, 0.1) / ${train/lr}`; for groups, one aggregate around the whole formula: "
                "`mean(…)`, `median(…)`, `min(…)`, `max(…)`, `std(…)` (docs/track-formulas.md)")


class FormulaCheck(BaseModel):
    model_config = ConfigDict(strict=True)
    formula: str = Field(min_length=1, max_length=MAX_CHARS, description=FORMULA_HELP)


class FormulaChecked(BaseModel):
    ok: bool = Field(description="always true: a formula that does not parse is answered 422 with `position`")
    references: list[str] = Field(description="the series paths it refers to, in order of first appearance")
    functions: list[str] = Field(description="the functions it uses, the aggregate included")
    aggregate: str | None = Field(description="the group aggregate around the whole formula, or null")


class RunGroup(BaseModel):
    model_config = ConfigDict(strict=True)
    name: str = Field(min_length=1, max_length=200, description="shown beside the group's line")
    runs: list[RunIdField] = Field(min_length=1, max_length=1000, description="the runs aggregated")


class FormulaRequest(BaseModel):
    model_config = ConfigDict(strict=True)
    formula: str = Field(min_length=1, max_length=MAX_CHARS, description=FORMULA_HELP)
    runs: list[RunIdField] | None = Field(None, max_length=1000, description="evaluate per run (or `groups`)")
    groups: list[RunGroup] | None = Field(None, max_length=100, description=(
        "evaluate per run, then aggregate across each group's runs (at most 1,000 runs in all); the formula "
        "needs an aggregate"))
    buckets: Annotated[int, BeforeValidator(_whole_float)] = Field(
        1000, ge=1, le=1000, description="how many equal-width step buckets to cut the range into")
    from_x: float | None = Field(None, description="a window's first step (zoom); with to_x. Functions over the "
                                                   "series still see the steps before it")
    to_x: float | None = Field(None, description="a window's last step (zoom); with from_x")
    log_x: bool = Field(False, description="cut buckets on log10(step); steps ≤ 0 are left out")
    shared_range: bool = Field(False, description="one step range for every run or group (default: each its own)")
    lineage: bool = Field(True, description="a fork's series start with its ancestors' points up to the fork")
    include_preview: bool = Field(True, description="include points logged as previews")
    fields: list[BucketField] | None = Field(
        None, max_length=len(BUCKET_COLUMNS), description="the bucket columns to answer (default: all; `index` "
        "always comes, and a group's band too): a chart that draws a line and its band needs only index, last_x, "
        "last_y, min and max")


class FormulaRunOut(BaseModel):
    run_id: str
    from_x: float | None = Field(description="the step range bucketed; null when the run has no aligned steps")
    to_x: float | None
    exact: bool = Field(description="true: no more points than buckets, so `points` holds them all")
    points: list[list[FloatOrSpecial]] = Field(description="[step, value] pairs when exact; value: " + SPECIAL)
    buckets: BucketColumns = Field(description="the buckets holding points, when not exact")


class Band(BaseModel):
    lower: list[float | None] = Field(description="per bucket (same order as `buckets`): the lowest lower edge")
    upper: list[float | None] = Field(description="per bucket: the highest upper edge")


class FormulaGroupOut(BaseModel):
    name: str
    aggregate: str = Field(description="mean (band: ± population std), median (band: 25th–75th percentile), "
                                       "min or max (band: min–max), std (no band: lower = upper = std)")
    from_x: float | None
    to_x: float | None
    exact: bool
    points: list[list[FloatOrSpecial]] = Field(description="[step, value, lower, upper] when exact; " + SPECIAL)
    buckets: BucketColumns = Field(description="the aggregate line bucketed, when not exact")
    band: Band = Field(description="the band per bucket, when not exact")


class FormulaAnswer(BaseModel):
    references: list[str]
    runs: list[FormulaRunOut] = Field(description="per run, in request order (empty when `groups` were sent)")
    groups: list[FormulaGroupOut] = Field(description="per group, in request order (empty when `runs` were sent)")
