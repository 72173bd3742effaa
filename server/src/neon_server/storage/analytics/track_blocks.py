"""Chart buckets from the pre-aggregated step blocks (`track_float_blocks`, see neon_server/track/blocks.py).

A series' x range (step) is cut on a grid of whole blocks: the bucket width is a multiple of the block size
2^L, and the grid starts at a multiple of it, so every block falls in one bucket and a bucket is the merge of its
blocks — exact first, last, min, max, sum and counts, from about (points / 2^L) rows instead of every point. The
largest level whose grid keeps at least four fifths of the buckets asked for is used. The price: bucket bounds
are multiples of the block size, and there may be up to a fifth fewer buckets than asked.

Only the edges a window or a fork's step cut through part of a block are read from the points. Blocks are used
for a series only when they count exactly the points of its summary (not rewritten, no preview points, written
after blocks existed); otherwise it is bucketed from its points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from neon_server.domain.track import Segment
from neon_server.track.blocks import LEVELS

Binder = Callable[[Any, str], str]
MIN_SHARE = 0.8  # a block grid keeps at least this share of the buckets asked for
# a point as a block row: (first, last) as (step, value) with an infinite step when not finite, etc.
POINT_AS_BLOCK = (
    "if(isFinite(value), step, inf) AS fk, value AS fy, if(isFinite(value), step, -inf) AS lk, value AS ly, "
    "if(isFinite(value), value, inf) AS mn, if(isFinite(value), value, -inf) AS mx, "
    "if(isFinite(value), value, 0) AS sm, toUInt64(isFinite(value)) AS fc, toUInt64(isNaN(value)) AS nc, "
    "toUInt64(value = inf) AS pc, toUInt64(value = -inf) AS ngc")
BLOCK_COLUMNS = ("first.1 AS fk, first.2 AS fy, last.1 AS lk, last.2 AS ly, min_value AS mn, max_value AS mx, "
                 "sum_value AS sm, finite_count AS fc, nan_count AS nc, posinf_count AS pc, neginf_count AS ngc")
MERGE = ("min(fk) AS first_x, argMin(fy, fk) AS first_y, max(lk) AS last_x, argMax(ly, lk) AS last_y, "
         "min(mn) AS min, max(mx) AS max, sum(sm) AS sum, sum(fc) AS finite_count, sum(nc) AS nan_count, "
         "sum(pc) AS posinf_count, sum(ngc) AS neginf_count")


@dataclass(frozen=True)
class Grid:
    """Buckets i = 0..count-1 holding lo + i·width < step ≤ lo + (i+1)·width (bucket 0 also step = lo)."""

    level: int
    lo: float
    width: float
    count: int

    @property
    def block(self) -> float:
        return float(2**self.level)


def grid_for(lo: float, hi: float, n: int) -> Grid | None:
    """A grid of whole blocks over [lo, hi] with at most n buckets and at least MIN_SHARE of n, on the largest
    blocks that allow it (the fewest rows); None when no level does (the points are read instead)."""
    for level in reversed(LEVELS):
        size = float(2**level)
        start = math.floor(lo / size) * size
        span = max(math.ceil(hi / size) * size - start, size)
        width = math.ceil(span / (n * size)) * size
        count = max(1, math.ceil(span / width))
        if count >= MIN_SHARE * n and span / size >= n:  # enough buckets, and a block or more in each
            return Grid(level, start, width, count)
    return None


def block_counts(query: Callable[..., list[dict[str, Any]]], project: str, runs: str, paths: str,
                 values: dict[str, Any]) -> dict[tuple[str, str], int]:
    """Points counted by each series' blocks (level 12: the fewest rows; every level counts the same points)."""
    rows = query(f"SELECT run_id, path, sum(finite_count + nan_count + posinf_count + neginf_count) AS n "
                 f"FROM track_float_blocks WHERE project_id = {project} AND run_id IN {runs} AND path IN {paths} "
                 f"AND level = {LEVELS[-1]} GROUP BY run_id, path", tag="track.buckets.blocks", params=values)
    return {(r["run_id"], r["path"]): int(r["n"]) for r in rows}


@dataclass(frozen=True)
class BlockRange:
    """One segment's whole blocks: level, blocks first..last (inclusive), on its series' grid."""

    sid: int
    run_id: str
    path: str
    grid: Grid
    first: int
    last: int


def segment_parts(sid: int, path: str, segment: Segment, grid: Grid, *, window: tuple[float, float] | None,
                  include_preview: bool, project: str, bind: Binder) -> tuple[BlockRange | None, str | None]:
    """One segment of a series on a block grid: the range of its whole blocks, and the SQL of its points in
    block form (sid, idx, lo, w, fk, fy, lk, ly, mn, mx, sm, fc, nc, pc, ngc) where a window or the segment's
    last step cut through a block."""
    size = grid.block
    bottom = window[0] if window is not None else None
    tops = [v for v in (window[1] if window is not None else None, segment.max_step) if v is not None]
    top = min(tops) if tops else None
    # whole blocks cover (covered_from, covered_to]: from the first block bound at or above the bottom to the
    # last one at or below the top
    covered_from = math.ceil(bottom / size) * size if bottom is not None else -math.inf
    covered_to = math.floor(top / size) * size if top is not None else math.inf
    idx = f"toInt64(greatest(least(ceil((step - lo) / w) - 1, {bind(float(grid.count - 1), 'Float64')}), 0))"
    points = (f"SELECT toUInt32({sid}) AS sid, {idx} AS idx, {bind(grid.lo, 'Float64')} AS lo, "
              f"{bind(grid.width, 'Float64')} AS w, {POINT_AS_BLOCK} FROM track_float_points "
              f"WHERE project_id = {project} AND run_id = {bind(segment.run_id, 'String')} "
              f"AND path = {bind(path, 'String')}")
    preview = "" if include_preview else " AND NOT preview"
    if covered_from >= covered_to:  # no whole block inside: the points alone
        bounds = [f"step >= {bind(bottom, 'Float64')}"] if bottom is not None else []
        bounds += [f"step <= {bind(top, 'Float64')}"] if top is not None else []
        return None, points + "".join(f" AND {b}" for b in bounds) + preview
    edges = []
    if bottom is not None:
        edges.append(f"(step >= {bind(bottom, 'Float64')} AND step <= {bind(covered_from, 'Float64')})")
    if top is not None:
        edges.append(f"(step > {bind(covered_to, 'Float64')} AND step <= {bind(top, 'Float64')})")
    whole = BlockRange(sid, segment.run_id, path, grid, first=int(covered_from / size) if bottom is not None
                       else -(2**62), last=int(covered_to / size) - 1 if top is not None else 2**62)
    return whole, f"{points} AND ({' OR '.join(edges)}){preview}" if edges else None


def blocks_sql(ranges: Sequence[BlockRange], project: str, bind: Binder) -> str:
    """The whole blocks of every range in block form. One scan per layer of ranges with distinct (run, path)
    (a run's blocks serve several series only for forks of one parent charted together); each block row finds
    its range by a hash lookup of its (run, path), and the range's grid by index."""
    layers: list[list[BlockRange]] = []
    for r in ranges:
        layer = next((layer for layer in layers if all((o.run_id, o.path) != (r.run_id, r.path) for o in layer)),
                     None)
        if layer is None:
            layers.append(layer := [])
        layer.append(r)
    return " UNION ALL ".join(_layer_sql(layer, project, bind) for layer in layers)


def _layer_sql(ranges: Sequence[BlockRange], project: str, bind: Binder) -> str:
    def column(values: list[Any], kind: str) -> str:
        return bind(values, f"Array({kind})")

    keys = column([f"{r.run_id}/{r.path}" for r in ranges], "String")  # run ids have no "/": unambiguous
    numbers = column(list(range(1, len(ranges) + 1)), "UInt32")

    def of(values: list[Any], kind: str) -> str:
        return f"arrayElement({column(values, kind)}, ri)"

    runs = column(sorted({r.run_id for r in ranges}), "String")
    paths = column(sorted({r.path for r in ranges}), "String")
    levels = column(sorted({r.grid.level for r in ranges}), "UInt8")
    # the columns in the order of every block-form part (a UNION ALL matches them by position)
    return (f"SELECT toUInt32({of([r.sid for r in ranges], 'UInt32')}) AS sid, "
            f"toInt64(greatest(least(ceil(((block + 1) * exp2(level) - lo) / w) - 1, "
            f"{of([float(r.grid.count - 1) for r in ranges], 'Float64')}), 0)) AS idx, "
            f"{of([r.grid.lo for r in ranges], 'Float64')} AS lo, "
            f"{of([r.grid.width for r in ranges], 'Float64')} AS w, "
            "fk, fy, lk, ly, mn, mx, sm, fc, nc, pc, ngc FROM ("
            f"SELECT transform(concat(run_id, '/', path), {keys}, {numbers}, toUInt32(0)) AS ri, level, block, "
            f"{BLOCK_COLUMNS} FROM track_float_blocks WHERE project_id = {project} AND run_id IN {runs} "
            f"AND path IN {paths} AND level IN {levels}) "
            f"WHERE ri > 0 AND level = {of([r.grid.level for r in ranges], 'UInt8')} "
            f"AND block >= {of([r.first for r in ranges], 'Int64')} "
            f"AND block <= {of([r.last for r in ranges], 'Int64')}")


def merged_sql(parts: Sequence[str]) -> str:
    """Block-form rows merged into buckets (sid, idx, lo, w and the bucket columns; first/last/min/max/sum are
    meaningless where finite_count = 0)."""
    return (f"SELECT sid, idx, any(lo) AS lo, any(w) AS w, {MERGE} FROM ({' UNION ALL '.join(parts)}) "
            "GROUP BY sid, idx")
