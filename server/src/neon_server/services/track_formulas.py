"""Track formulas: derived metrics (`ema(${train/loss}, 0.1) / ${lr}`) per run, or aggregated across a group's
runs with a band, bucketed for charts like stored series (docs/track-formulas.md).

The formula is parsed here (errors become 422 with the character position and what was expected there); runs
are resolved to their lineage by the Track service; the store evaluates and buckets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from neon_server.domain.track import MAX_BUCKETS, BucketQuery, Segment, SeriesBuckets
from neon_server.services.errors import InvalidInput
from neon_server.services.track import TrackService
from neon_server.storage.analytics.track_formula import GroupBuckets, TrackFormulaStore
from neon_server.track import formula as grammar

MAX_RUNS = 1_000  # per request, over all groups


@dataclass(frozen=True)
class Checked:
    references: tuple[str, ...]
    functions: tuple[str, ...]
    aggregate: str | None


def _parse(text: str) -> grammar.Formula:
    try:
        parsed = grammar.parse(text)
    except grammar.FormulaError as exc:
        raise InvalidInput(f"formula: {exc}", position=exc.position, expected=exc.expected,
                           reason=exc.reason) from None
    if not parsed.references:
        raise InvalidInput("formula: it names no series; refer to one as ${path}, e.g. ${train/loss}",
                           position=0, expected="a ${path} reference", reason="no series")
    return parsed


class TrackFormulaService:
    def __init__(self, track: TrackService, store: TrackFormulaStore) -> None:
        self._track = track
        self._store = store

    def check(self, text: str) -> Checked:
        """Parse only (no SQL): what the formula refers to, or InvalidInput with position and expected."""
        parsed = _parse(text)
        return Checked(parsed.references, parsed.functions, parsed.aggregate)

    def runs(self, project_id: str, text: str, run_ids: Sequence[str], query: BucketQuery, *,
             lineage: bool = True) -> list[SeriesBuckets]:
        """The formula per run, bucketed (in request order)."""
        parsed = _parse(text)
        if parsed.aggregate is not None:
            raise InvalidInput(f"formula: {parsed.aggregate}() aggregates a group's runs: send `groups`, not `runs`",
                               position=0, expected="a formula without a group aggregate", reason="aggregate")
        self._check(query, len(run_ids))
        return self._store.run_buckets(project_id, parsed, self._segments(project_id, run_ids, lineage), query)

    def groups(self, project_id: str, text: str, groups: Sequence[Sequence[str]], query: BucketQuery, *,
               lineage: bool = True) -> list[GroupBuckets]:
        """The formula aggregated across each group's runs, with its band, bucketed (in request order)."""
        parsed = _parse(text)
        if parsed.aggregate is None:
            raise InvalidInput("formula: groups need a group aggregate around the whole formula: mean(…), "
                               "median(…), min(…), max(…) or std(…)", position=0,
                               expected="mean(, median(, min(, max( or std(", reason="no aggregate")
        self._check(query, sum(len(g) for g in groups))
        if any(not g for g in groups):
            raise InvalidInput("every group needs at least one run")
        resolved = [self._segments(project_id, g, lineage) for g in groups]
        return self._store.group_buckets(project_id, parsed, resolved, query)

    def _check(self, query: BucketQuery, runs: int) -> None:
        if runs > MAX_RUNS:
            raise InvalidInput(f"at most {MAX_RUNS} runs per request")
        if not 1 <= query.n <= MAX_BUCKETS:
            raise InvalidInput(f"buckets must be between 1 and {MAX_BUCKETS}")
        if query.x != "step":
            raise InvalidInput("formulas are drawn against step only")
        if query.window is not None and not query.window[0] < query.window[1]:
            raise InvalidInput("the window's from must be below its to")
        if query.window is not None and query.log_x and query.window[0] <= 0:
            raise InvalidInput("with log_x, the window must start above 0")

    def _segments(self, project_id: str, run_ids: Sequence[str], lineage: bool) -> list[tuple[Segment, ...]]:
        """Each run's segments (NotFound for a run not in the project)."""
        if lineage:
            return [self._track.lineage(project_id, r) for r in run_ids]
        return [(Segment(self._track.run(project_id, r).run_id),) for r in run_ids]
