"""Formulas over float series evaluated in ClickHouse, then bucketed with the chart bucket semantics.

Per run: the points of every referenced path (a fork's ancestors' up to the fork step, stitched as chart buckets
stitch them; where two segments hold a step, the nearer run's point wins) are aligned on step — a step counts
when every referenced series has a point there — and the expression is evaluated step by step. Functions over
the step-ordered series (ema, sma, …) are window functions: each one is a layer of SQL over the layer below, so
they nest (`track_formula_sql.py`). Then (sid, x = step, value) is bucketed by `bucket_rows`, the chart buckets'
own code.

For a group aggregate the per-run results are aggregated across the group's runs at each step, over the runs
whose value there is finite; centre, lower and upper line are bucketed as three series.

The SQL is built only from our own fragments: paths, run ids and every number (literals, alpha, windows, sigma,
Gaussian weights) are bound parameters; function names and operators come from fixed tables in our code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from neon_server.domain.track import BucketQuery, Segment, SeriesBuckets
from neon_server.storage.analytics.executor import AnalyticsDB, AnalyticsError, SqlParams
from neon_server.storage.analytics.track_buckets import asked, bucket_rows
from neon_server.storage.analytics.track_formula_sql import Binder, Compiler, nullable
from neon_server.track.formula import Formula

T = TypeVar("T")
MAX_STEP = 1.7976931348623157e308  # "no limit" for a segment's last step


@dataclass
class GroupBuckets:
    """A group aggregate bucketed: `line` is the aggregate (as a series), `lower`/`upper` the band's bucket
    columns (min of the lower line and max of the upper line per bucket, by the same index), or in `points`
    [x, centre, lower, upper] when exact."""

    line: SeriesBuckets
    lower: list[float | None] = field(default_factory=list)
    upper: list[float | None] = field(default_factory=list)
    points: tuple[tuple[float, float, float, float], ...] = ()


GroupPoints = dict[int, tuple[tuple[float, float, float, float], ...]]  # group → [x, centre, lower, upper]
Stored = dict[tuple[str, str], dict[str, Any]]  # (run id, path) → its summary: first/last step, rewritten


def _reference(project: str, bind: Binder, path: str, index: int, runs: Sequence[tuple[Segment, ...]], *,
               stored: Stored, extra: str, ordered: bool = False) -> str | None:
    """(sid, step, v<index>): one referenced series per run, its segments stitched; None when no run has it;
    `ordered`: in the order of (run id, step), the table's own (then read in order, not sorted).
    Read in step order as stored; grouped by step only when a step may be there twice (a step logged again and
    not merged yet, or a fork's own points overlapping its ancestor's): then the nearer run's latest point wins.
    One read per batch of segments of different runs (the SQL stays small for a thousand runs)."""
    batches: list[dict[str, tuple[int, int, float]]] = []  # run id → (sid, nearness, last step kept)
    twice = False
    for sid, segments in enumerate(runs):
        seen: list[tuple[float, float]] = []
        for j, seg in enumerate(segments):
            summary = stored.get((seg.run_id, path))
            limit = MAX_STEP if seg.max_step is None else seg.max_step
            if summary is None or summary["first_step"] > limit:
                continue
            span = (summary["first_step"], min(summary["last_step"], limit))
            twice = twice or bool(summary["rewritten"]) or any(a <= span[1] and span[0] <= b for a, b in seen)
            seen.append(span)
            batch = next((b for b in batches if seg.run_id not in b), None)
            if batch is None:
                batch = {}
                batches.append(batch)
            batch[seg.run_id] = (sid, 255 - j, limit)
    if not batches:
        return None
    parts = []
    for batch in batches:
        ids = bind(list(batch), "Array(String)")
        sids, nears, limits = (bind([v[i] for v in batch.values()], kind)
                               for i, kind in enumerate(("Array(UInt32)", "Array(UInt8)", "Array(Float64)")))
        upto = "" if all(v[2] == MAX_STEP for v in batch.values()) else \
            f" AND step <= transform(run_id, {ids}, {limits}, {bind(MAX_STEP, 'Float64')})"
        parts.append(f"SELECT transform(run_id, {ids}, {sids}, toUInt32(0)) AS sid, "
                     f"transform(run_id, {ids}, {nears}, toUInt8(0)) AS near, run_id, step, value, version "
                     f"FROM track_float_points WHERE project_id = {project} AND run_id IN {ids} "
                     f"AND path = {bind(path, 'String')}{upto}{extra}")
    union = " UNION ALL ".join(parts)
    if twice:
        return f"SELECT sid, step, argMax(value, (near, version)) AS v{index} FROM ({union}) GROUP BY sid, step"
    return f"SELECT sid, step, value AS v{index} FROM ({union})" + (" ORDER BY run_id, step" if ordered else "")


UNALIGNED = "neon: the summaries promised aligned integer steps"


def _aligned(project: str, bind: Binder, formula: Formula, runs: Sequence[tuple[Segment, ...]], q: BucketQuery,
             *, stored: Stored, dense: bool) -> str | None:
    """(sid, step, v0 … v(k-1)): the steps of each run where every referenced series has a point; None when a
    series is in no run. In general a merge join on (sid, step). When `dense` (the summaries say every run's
    referenced series hold the same consecutive integer steps, see `_dense`), the series read in step order are
    pasted side by side, row by row, with no join; each row checks that promise (same step everywhere, an integer)
    and a broken one fails the statement with UNALIGNED, so that the caller asks again without `dense`."""
    extra = "" if q.include_preview else " AND NOT preview"
    if not formula.stateful and q.window is not None:  # no function looks back: the window cuts the points read
        extra += f" AND step >= {bind(q.window[0], 'Float64')} AND step <= {bind(q.window[1], 'Float64')}"
    ordered = dense and len(formula.references) > 1  # rows are pasted in the order they come
    series = [_reference(project, bind, path, i, runs, stored=stored, extra=extra, ordered=ordered)
              for i, path in enumerate(formula.references)]
    if any(s is None for s in series):
        return None
    values = ", ".join(f"v{i}" for i in range(len(series)))
    if dense:
        pasted = " PASTE JOIN ".join(f"(SELECT sid AS sid{i}, step AS step{i}, v{i} FROM ({s})) AS t{i}"
                                     for i, s in enumerate(series))
        broken = " OR ".join(["step0 != floor(step0)", *(f"sid{i} != sid0 OR step{i} != step0"
                                                          for i in range(1, len(series)))])
        # Rows are pasted in the order they come: the planner must keep each side's ORDER BY (it drops a
        # subquery's sort before a join otherwise), and one thread must read them (streams read in parallel are
        # pasted block by block, out of step). One thread pasting costs half the CPU of two sorting for a join.
        return (f"SELECT sid0 AS sid, step0 + throwIf({broken}, '{UNALIGNED}') AS step, {values} FROM {pasted} "
                f"SETTINGS query_plan_remove_redundant_sorting = 0, max_threads = 1")
    if len(series) == 1:
        return series[0]
    # one run: the step alone is the key (sorting on one column costs the merge join half as much)
    keys = "step" if len(runs) == 1 else "sid, step"
    joined = " INNER JOIN ".join(f"({s}) AS t{i}" + (f" USING ({keys})" if i else "") for i, s in enumerate(series))
    return f"SELECT t0.sid AS sid, step, {values} FROM {joined} SETTINGS join_algorithm = 'full_sorting_merge'"


def _result(project: str, bind: Binder, formula: Formula, runs: Sequence[tuple[Segment, ...]],
            q: BucketQuery, *, stored: Stored, dense: bool = False) -> str | None:
    """(sid, x, value): the formula per run, x on the scale buckets are cut on, inside the window; None when
    a referenced series is in no run."""
    aligned = _aligned(project, bind, formula, runs, q, stored=stored, dense=dense)
    if aligned is None:
        return None
    compiler = Compiler(bind, formula.references, steps_are_rows=dense, one_run=len(runs) == 1)
    root, _ = compiler.node(formula.root)
    sql = compiler.layers(aligned, root)
    if q.window is not None:
        sql = (f"SELECT * FROM ({sql}) WHERE step >= {bind(q.window[0], 'Float64')} "
               f"AND step <= {bind(q.window[1], 'Float64')}")
    if q.log_x:
        return f"SELECT sid, log10(step) AS x, value FROM ({sql}) WHERE step > 0"
    return f"SELECT sid, step AS x, value FROM ({sql})"


def _run_summaries(formula: Formula, runs: Sequence[tuple[Segment, ...]], q: BucketQuery,
                   stored: Stored) -> dict[int, list[dict[str, Any]]] | None:
    """Per run (by sid) the summaries of its referenced series, when the summaries describe the points read: every
    run of one segment and previews read. A run missing a referenced series has no result and is left out. None
    when the summaries cannot tell."""
    if not q.include_preview:
        return None
    found = {}
    for sid, segments in enumerate(runs):
        if len(segments) != 1:
            return None
        summaries = [stored.get((segments[0].run_id, path)) for path in formula.references]
        if all(s is not None for s in summaries):
            found[sid] = [s for s in summaries if s is not None]
    return found


def _dense(formula: Formula, runs: Sequence[tuple[Segment, ...]], q: BucketQuery, stored: Stored) -> bool:
    """Whether the summaries say that in every run all referenced series hold the same consecutive integer steps:
    one segment, never rewritten, the same first and last step, and as many points as integers between them
    (the statement checks every row that this holds, see `_aligned`)."""
    found = _run_summaries(formula, runs, q, stored)
    if found is None:
        return False
    for summaries in found.values():
        shapes = {(s["first_step"], s["last_step"], s["count"], bool(s["rewritten"])) for s in summaries}
        if len(shapes) != 1:
            return False
        [(first, last, count, rewritten)] = shapes
        if rewritten or not (float(first).is_integer() and count == last - first + 1):
            return False
    return True


def _first_that_holds(dense: bool, attempt: Callable[[bool], T]) -> T:
    """`attempt(dense)`; when the points break the summaries' promise (UNALIGNED), `attempt(False)`."""
    if dense:
        try:
            return attempt(True)
        except AnalyticsError as exc:
            if UNALIGNED not in str(exc):
                raise
    return attempt(False)


def _known_ranges(formula: Formula, runs: Sequence[tuple[Segment, ...]], q: BucketQuery,
                  stored: Stored) -> dict[int, tuple[float, float]] | None:
    """Each run's x range from the summaries, when they tell it: a run of one segment whose referenced series
    all start at one step and end at one step has both steps aligned, and a formula that never drops a step
    (no diff or rate) keeps them. None when any run's range needs the points (then a window pass finds it)."""
    found = None if nullable(formula.root) else _run_summaries(formula, runs, q, stored)
    if found is None:
        return None
    ranges = {}
    for sid, summaries in found.items():
        ends = {(s["first_step"], s["last_step"]) for s in summaries}
        if len(ends) != 1:
            return None
        [(lo, hi)] = ends
        if q.log_x:
            if lo <= 0:
                return None
            lo, hi = math.log10(lo), math.log10(hi)
        ranges[sid] = (lo, hi)
    if q.shared_range and ranges:
        shared = (min(lo for lo, _ in ranges.values()), max(hi for _, hi in ranges.values()))
        ranges = dict.fromkeys(ranges, shared)
    return ranges


def _ranged(source: str, bind: Binder, q: BucketQuery, key: str = "sid",
            known: dict[int, tuple[float, float]] | None = None) -> str:
    """`source` with each series' lo and bucket width (glo, gw): the window's, one shared, its own as `known`
    from the summaries, or its own found by a window pass over the points."""
    if q.window is not None:
        lo, hi = (math.log10(v) for v in q.window) if q.log_x else q.window
        return f"SELECT *, {bind(lo, 'Float64')} AS glo, {bind((hi - lo) / q.n, 'Float64')} AS gw FROM ({source})"
    if known:
        sids = bind(list(known), "Array(UInt32)")
        los = bind([lo for lo, _ in known.values()], "Array(Float64)")
        widths = bind([(hi - lo) / q.n for lo, hi in known.values()], "Array(Float64)")
        return (f"SELECT *, transform({key}, {sids}, {los}, 0.) AS glo, transform({key}, {sids}, {widths}, 0.) AS gw "
                f"FROM ({source})")
    over = "()" if q.shared_range else f"(PARTITION BY {key})"
    n = bind(float(q.n), "Float64")
    return (f"SELECT *, min(x) OVER {over} AS glo, (max(x) OVER {over} - glo) / {n} AS gw "
            f"FROM ({source})")


def _bounded(q: BucketQuery, *more: str) -> BucketQuery:
    """The query with the bucket bounds (they give the range answered) and `more` columns computed too."""
    return replace(q, fields=(*q.fields, "from_x", "to_x", *more))


def _range_of(columns: dict[str, list[Any]], q: BucketQuery) -> tuple[float, float]:
    if q.window is not None:
        return q.window
    return columns["from_x"][0], columns["to_x"][-1]


class TrackFormulaStore:
    def __init__(self, db: AnalyticsDB) -> None:
        self._db = db

    def _stored(self, project_id: str, formula: Formula, runs: Sequence[tuple[Segment, ...]]) -> Stored:
        """The summaries of the referenced series of every segment (which exist, their steps, rewritten)."""
        params = SqlParams(prefix="s")
        bind = params.add
        run_ids = sorted({seg.run_id for segments in runs for seg in segments})
        rows = self._db.query(
            f"SELECT run_id, path, count, first_step, last_step, rewritten FROM track_series FINAL "
            f"WHERE project_id = {bind(project_id, 'String')} AND run_id IN {bind(run_ids, 'Array(String)')} "
            f"AND path IN {bind(list(formula.references), 'Array(String)')} AND type = 'floatSeries'",
            tag="track.formula.summaries", params=params.values)
        return {(r["run_id"], r["path"]): r for r in rows}

    def run_buckets(self, project_id: str, formula: Formula, runs: Sequence[tuple[Segment, ...]],
                    q: BucketQuery) -> list[SeriesBuckets]:
        """The formula per run (each a list of segments), bucketed; in request order."""
        stored = self._stored(project_id, formula, runs)
        known = _known_ranges(formula, runs, q, stored)

        def bucketed(dense: bool) -> dict[int, dict[str, list[Any]]] | None:
            params = SqlParams(prefix="f")
            bind = params.add
            result = _result(bind(project_id, "String"), bind, formula, runs, q, stored=stored, dense=dense)
            if result is None:
                return None
            return bucket_rows(self._db, _ranged(result, bind, q, known=known), _bounded(q), params)

        buckets = _first_that_holds(_dense(formula, runs, q, stored), bucketed)
        if buckets is None:
            return [SeriesBuckets(None, None) for _ in runs]
        small = [sid for sid, c in buckets.items() if _total(c) <= q.n]
        points = self._points(project_id, formula, [runs[sid] for sid in small], q, stored)
        out = []
        for sid in range(len(runs)):
            if sid not in buckets:
                out.append(SeriesBuckets(None, None))
                continue
            lo, hi = _range_of(buckets[sid], q)
            if sid in small:
                out.append(SeriesBuckets(lo, hi, exact=True, points=points.get(small.index(sid), ())))
            else:
                out.append(SeriesBuckets(lo, hi, columns=asked(buckets[sid], q)))
        return out

    def _points(self, project_id: str, formula: Formula, runs: Sequence[tuple[Segment, ...]],
                q: BucketQuery, stored: Stored) -> dict[int, tuple[tuple[float, float], ...]]:
        def read(dense: bool) -> dict[str, list[Any]]:
            params = SqlParams(prefix="f")
            bind = params.add
            result = _result(bind(project_id, "String"), bind, formula, runs, q, stored=stored, dense=dense)
            if result is None:
                return {"sid": [], "x": [], "value": []}
            rows: dict[str, list[Any]] = self._db.query_arrow(
                f"SELECT sid, x, value FROM ({result}) ORDER BY sid, x", tag="track.formula.points",
                params=params.values).to_pydict()
            return rows

        if not runs:
            return {}
        rows = _first_that_holds(_dense(formula, runs, q, stored), read)
        found: dict[int, list[tuple[float, float]]] = {}
        for sid, x, y in zip(rows["sid"], rows["x"], rows["value"], strict=True):
            found.setdefault(sid, []).append((10.0**x if q.log_x else x, y))
        return {sid: tuple(p) for sid, p in found.items()}

    def group_buckets(self, project_id: str, formula: Formula, groups: Sequence[Sequence[tuple[Segment, ...]]],
                      q: BucketQuery) -> list[GroupBuckets]:
        """The formula per run, aggregated across each group's runs at each step, bucketed as the line and
        its band; in request order."""
        runs = [r for g in groups for r in g]
        stored = self._stored(project_id, formula, runs)
        banded = _bounded(q, "min", "max")  # the band is the lower line's min, the upper line's max

        def bucketed(dense: bool) -> tuple[dict[int, dict[str, list[Any]]], GroupPoints] | None:
            params = SqlParams(prefix="f")
            bind = params.add
            group_of = bind([g for g, members in enumerate(groups) for _ in members], "Array(UInt32)")
            result = _result(bind(project_id, "String"), bind, formula, runs, q, stored=stored, dense=dense)
            if result is None:
                return None
            agg = _aggregated(result, group_of, formula.aggregate or "mean")
            lines = (f"SELECT toUInt32(g * 3 + k.1) AS sid, x, k.2 AS value, glo, gw FROM "
                     f"({_ranged(agg, bind, q, key='g')}) ARRAY JOIN [(0, c), (1, l), (2, u)] AS k")
            buckets = bucket_rows(self._db, lines, banded, params)
            small = [g for g in range(len(groups)) if 3 * g in buckets and _total(buckets[3 * g]) <= q.n]
            return buckets, self._group_points(agg, small, params) if small else {}

        found = _first_that_holds(_dense(formula, runs, q, stored), bucketed)
        if found is None:
            return [GroupBuckets(SeriesBuckets(None, None)) for _ in groups]
        buckets, points = found
        out = []
        for g in range(len(groups)):
            line = buckets.get(3 * g)
            if line is None:
                out.append(GroupBuckets(SeriesBuckets(None, None)))
                continue
            lo, hi = _range_of(line, q)
            if g in points:
                exact = points[g]
                series = SeriesBuckets(lo, hi, exact=True, points=tuple((x, c) for x, c, _, _ in exact))
                out.append(GroupBuckets(series, points=exact))
            else:
                out.append(GroupBuckets(SeriesBuckets(lo, hi, columns=asked(line, q)), lower=buckets[3 * g + 1]["min"],
                                        upper=buckets[3 * g + 2]["max"]))
        return out

    def _group_points(self, agg: str, groups: list[int], params: SqlParams) -> GroupPoints:
        where = f"g IN {params.add(groups, 'Array(UInt32)')}"
        rows = self._db.query_arrow(f"SELECT g, x, c, l, u FROM ({agg}) WHERE {where} ORDER BY g, x",
                                    tag="track.formula.group_points", params=params.values).to_pydict()
        found: dict[int, list[tuple[float, float, float, float]]] = {}
        for g, x, c, lo, hi in zip(rows["g"], rows["x"], rows["c"], rows["l"], rows["u"], strict=True):
            found.setdefault(g, []).append((x, c, lo, hi))
        return {g: tuple(p) for g, p in found.items()}


def _total(columns: dict[str, list[Any]]) -> int:
    return sum(sum(columns[c]) for c in ("finite_count", "nan_count", "posinf_count", "neginf_count"))


def _aggregated(result: str, group_of: str, aggregate: str) -> str:
    """(g, x, c, l, u, runs): at each step, the aggregate of the group's finite values and its band."""
    finite = "isFinite(value)"
    lines = {
        "mean": (f"avgIf(value, {finite})", f"c - stddevPopIf(value, {finite})", f"c + stddevPopIf(value, {finite})"),
        "median": tuple(f"quantileExactInclusiveIf({level})(value, {finite})" for level in ("0.5", "0.25", "0.75")),
        "min": (f"minIf(value, {finite})", f"minIf(value, {finite})", f"maxIf(value, {finite})"),
        "max": (f"maxIf(value, {finite})", f"minIf(value, {finite})", f"maxIf(value, {finite})"),
        "std": (f"stddevPopIf(value, {finite})", "c", "c"),
    }
    c, lo, hi = lines[aggregate]
    return (f"SELECT g, x, if(runs = 0, nan, {c}) AS c, if(runs = 0, nan, {lo}) AS l, "
            f"if(runs = 0, nan, {hi}) AS u, countIf({finite}) AS runs FROM "
            f"(SELECT arrayElement({group_of}, sid + 1) AS g, x, value FROM ({result})) GROUP BY g, x")
