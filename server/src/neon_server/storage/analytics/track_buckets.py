"""Float series bucketed in ClickHouse, with Neptune's bucket semantics.

A request names series (an id each) as lists of segments (a run's own points, and a fork's ancestors' points up
to the fork step, stitched at read). For each series, x is the step, the wall time (epoch ms), the time since
the series' first point (ms) or another metric's value at the same step; the x range is the series' own (or a
window, or one range shared by all series). The range is cut into n equal buckets on the linear or log10 scale:
bucket i holds lo + i·w < x ≤ lo + (i+1)·w, and bucket 0 also x = lo. With `first_alone` (Neptune's protocol)
bucket 0 is (-inf, lo] and n buckets follow. Per bucket: first and last finite points by x, min, max and sum of
finite values, and the counts of finite, NaN, +Inf and -Inf values. A series with no more points in range than
buckets asked for is answered with its points, exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from neon_server.domain.track import Bucket, BucketQuery, Segment, SeriesBuckets
from neon_server.storage.analytics.executor import AnalyticsDB

MAX_SERIES = 1_000


@dataclass(frozen=True)
class SeriesRequest:
    path: str
    segments: tuple[Segment, ...]


class _Binder:
    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def __call__(self, value: Any, kind: str) -> str:
        name = f"b{len(self.params)}"
        self.params[name] = value
        return f"{{{name}:{kind}}}"


def _points_sql(series: Sequence[SeriesRequest], bind: _Binder, project: str, q: BucketQuery) -> str:
    """(sid, run_id, step, t, value) for every point of every requested series."""
    parts = []
    preview = "" if q.include_preview else " AND NOT preview"
    for sid, s in enumerate(series):
        for seg in s.segments:
            upto = f" AND step <= {bind(seg.max_step, 'Float64')}" if seg.max_step is not None else ""
            parts.append(
                f"SELECT toUInt32({sid}) AS sid, run_id, step, toFloat64(toUnixTimestamp64Milli(time)) AS t, value "
                f"FROM track_float_points FINAL WHERE project_id = {project} AND run_id = {bind(seg.run_id, 'String')} "
                f"AND path = {bind(s.path, 'String')}{upto}{preview}")
    return " UNION ALL ".join(parts)


def _xs_sql(series: Sequence[SeriesRequest], bind: _Binder, project: str, q: BucketQuery) -> str:
    """(sid, x, value): each point's x on the scale buckets are cut on (log10 for a log axis)."""
    pts = _points_sql(series, bind, project, q)
    if q.x == "step":
        inner = f"SELECT sid, step AS x, value FROM ({pts})"
    elif q.x == "time":
        inner = f"SELECT sid, t AS x, value FROM ({pts})"
    elif q.x == "relative":
        inner = (f"SELECT p.sid AS sid, p.t - s.t0 AS x, p.value AS value FROM ({pts}) AS p "
                 f"INNER JOIN (SELECT sid, min(t) AS t0 FROM ({pts}) GROUP BY sid) AS s ON p.sid = s.sid")
    else:
        runs = sorted({seg.run_id for s in series for seg in s.segments})
        inner = (f"SELECT p.sid AS sid, m.xv AS x, p.value AS value FROM ({pts}) AS p INNER JOIN "
                 f"(SELECT run_id, step, value AS xv FROM track_float_points FINAL WHERE project_id = {project} "
                 f"AND path = {bind(q.x_path, 'String')} AND run_id IN {bind(runs, 'Array(String)')}) AS m "
                 "ON p.run_id = m.run_id AND p.step = m.step WHERE isFinite(m.xv)")
    if q.log_x:
        return f"SELECT sid, log10(x0) AS x, value FROM (SELECT sid, x AS x0, value FROM ({inner})) WHERE x0 > 0"
    return inner


def _scaled(value: float, log_x: bool) -> float:
    return math.log10(value) if log_x else value


def _unscaled(value: float, log_x: bool) -> float:
    return 10.0**value if log_x else value


class TrackBucketStore:
    def __init__(self, db: AnalyticsDB) -> None:
        self._db = db

    def float_buckets(self, project_id: str, series: Sequence[SeriesRequest],
                      q: BucketQuery) -> list[SeriesBuckets]:
        """Each requested series bucketed (in request order)."""
        if not series:
            return []
        bind = _Binder()
        project = bind(project_id, "String")
        xs = _xs_sql(series, bind, project, q)
        window = ""
        scaled_window = None
        if q.window is not None:
            scaled_window = tuple(-math.inf if q.log_x and v <= 0 else _scaled(v, q.log_x) for v in q.window)
            window = f" WHERE x >= {bind(scaled_window[0], 'Float64')} AND x <= {bind(scaled_window[1], 'Float64')}"
        ranges = self._db.query(f"SELECT sid, min(x) AS lo, max(x) AS hi, count() AS n FROM ({xs}){window} "
                                "GROUP BY sid", tag="track.buckets.range", params=bind.params)
        found = {r["sid"]: r for r in ranges}
        if scaled_window is not None:
            for r in found.values():
                r["lo"], r["hi"] = max(scaled_window[0], r["lo"]) if math.isinf(scaled_window[0]) else \
                    scaled_window[0], scaled_window[1]
        elif q.shared_range and found:
            lo, hi = min(r["lo"] for r in found.values()), max(r["hi"] for r in found.values())
            for r in found.values():
                r["lo"], r["hi"] = lo, hi
        exact = [sid for sid, r in found.items() if r["n"] <= q.n]
        bucketed = [sid for sid, r in found.items() if r["n"] > q.n]
        points = self._exact(xs, window, exact, bind) if exact else {}
        buckets = self._buckets(xs, window, bucketed, found, q, bind=bind) if bucketed else {}
        out = []
        for sid in range(len(series)):
            if sid not in found:
                out.append(SeriesBuckets(None, None))
                continue
            lo, hi = _unscaled(found[sid]["lo"], q.log_x), _unscaled(found[sid]["hi"], q.log_x)
            if sid in points:
                out.append(SeriesBuckets(lo, hi, exact=True, points=tuple(
                    (_unscaled(x, q.log_x), y) for x, y in points[sid])))
            else:
                out.append(SeriesBuckets(lo, hi, buckets=tuple(buckets.get(sid, ()))))
        return out

    def _exact(self, xs: str, window: str, sids: list[int], bind: _Binder) -> dict[int, list[tuple[float, float]]]:
        where = f"{window} {'AND' if window else 'WHERE'} sid IN {bind(sids, 'Array(UInt32)')}"
        rows = self._db.query_arrow(f"SELECT sid, x, value FROM ({xs}){where} ORDER BY sid, x",
                                    tag="track.buckets.exact", params=bind.params).to_pydict()
        out: dict[int, list[tuple[float, float]]] = {}
        for sid, x, y in zip(rows["sid"], rows["x"], rows["value"], strict=True):
            out.setdefault(sid, []).append((x, y))
        return out

    def _buckets(self, xs: str, window: str, sids: list[int], ranges: dict[int, dict[str, Any]], q: BucketQuery, *,
                 bind: _Binder) -> dict[int, list[Bucket]]:
        n = q.n
        # One row per series with its range; width 0 (one x value) puts every point in bucket 0.
        los = [float(ranges[s]["lo"]) for s in sids]
        widths = [(float(ranges[s]["hi"]) - float(ranges[s]["lo"])) / n for s in sids]
        rng = (f"SELECT arrayJoin(arrayZip({bind(sids, 'Array(UInt32)')}, {bind(los, 'Array(Float64)')}, "
               f"{bind(widths, 'Array(Float64)')})) AS r, r.1 AS sid, r.2 AS glo, r.3 AS gw")
        if q.first_alone:
            index = f"if(x <= glo OR gw = 0, 0, toInt64(least(ceil((x - glo) / gw), {n})))"
        else:
            index = f"if(gw = 0, 0, toInt64(greatest(least(ceil((x - glo) / gw) - 1, {n - 1}), 0)))"
        where = f"{window} {'AND' if window else 'WHERE'} sid IN {bind(sids, 'Array(UInt32)')}"
        sql = (f"SELECT sid, {index} AS idx, any(glo) AS lo, any(gw) AS w, "
               "argMinIf(x, x, isFinite(value)) AS first_x, argMinIf(value, x, isFinite(value)) AS first_y, "
               "argMaxIf(x, x, isFinite(value)) AS last_x, argMaxIf(value, x, isFinite(value)) AS last_y, "
               "minIf(value, isFinite(value)) AS ymin, maxIf(value, isFinite(value)) AS ymax, "
               "sumIf(value, isFinite(value)) AS ysum, countIf(isFinite(value)) AS finite, "
               "countIf(isNaN(value)) AS nans, countIf(value = inf) AS pinf, countIf(value = -inf) AS ninf "
               f"FROM (SELECT * FROM ({xs}){where}) AS p INNER JOIN ({rng}) AS g ON p.sid = g.sid "
               "GROUP BY sid, idx ORDER BY sid, idx")
        rows = self._db.query(sql, tag="track.buckets", params=bind.params)
        out: dict[int, list[Bucket]] = {}
        log_x = q.log_x
        for r in rows:
            idx, lo, w = r["idx"], r["lo"], r["w"]
            if q.first_alone:
                start, end = (-math.inf, lo) if idx == 0 else (lo + (idx - 1) * w, lo + idx * w)
            else:
                start, end = lo + idx * w, lo + (idx + 1) * w
            has = r["finite"] > 0
            out.setdefault(r["sid"], []).append(Bucket(
                index=idx, from_x=_unscaled(start, log_x) if start != -math.inf else start,
                to_x=_unscaled(end, log_x),
                first=(_unscaled(r["first_x"], log_x), r["first_y"]) if has else None,
                last=(_unscaled(r["last_x"], log_x), r["last_y"]) if has else None,
                min=r["ymin"] if has else None, max=r["ymax"] if has else None,
                finite_count=r["finite"], nan_count=r["nans"], posinf_count=r["pinf"], neginf_count=r["ninf"],
                sum=r["ysum"] if has else None))
        return out
