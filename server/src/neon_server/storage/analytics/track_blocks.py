"""Chart buckets from the pre-aggregated step blocks (`track_float_blocks`, see neon_server/track/blocks.py).

A series' x range (step) is cut on a grid of whole blocks: the bucket width is a multiple of the block size
2^L, and the grid starts at a multiple of it, so every block falls in one bucket and a bucket is the merge of its
blocks — exact first, last, min, max, sum and counts, from about (points / 2^L) rows instead of every point. The
largest level whose grid keeps at least three quarters of the buckets asked for is used. Levels are four times
apart, so that level's blocks are at most about twelve to a bucket: 100k steps in 1,000 buckets are 782 buckets
of two 64-step blocks. The price: bucket bounds are multiples of the block size, and there may be up to a
quarter fewer buckets than asked.

Only the edges a window or a fork's step cut through part of a block are read from the points. Blocks are used
for a series only when they count exactly the points of its summary (not rewritten, no preview points, written
after blocks existed); otherwise it is bucketed from its points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from neon_server.domain.track import Segment
from neon_server.track.blocks import LEVELS

Binder = Callable[[Any, str], str]
MIN_SHARE = 0.75  # a block grid keeps at least this share of the buckets asked for
# a point as a block row: (first, last) as (step, value) with an infinite step when not finite, etc.
POINT_AS_BLOCK = (
    "if(isFinite(value), step, inf) AS fk, value AS fy, if(isFinite(value), step, -inf) AS lk, value AS ly, "
    "if(isFinite(value), value, inf) AS mn, if(isFinite(value), value, -inf) AS mx, "
    "if(isFinite(value), value, 0) AS sm, toUInt64(isFinite(value)) AS fc, toUInt64(isNaN(value)) AS nc, "
    "toUInt64(value = inf) AS pc, toUInt64(value = -inf) AS ngc")
BLOCK_COLUMNS = (("first_x", "first.1"), ("first_y", "first.2"), ("last_x", "last.1"), ("last_y", "last.2"),
                 ("min", "min_value"), ("max", "max_value"), ("sum", "sum_value"), ("finite_count", "finite_count"),
                 ("nan_count", "nan_count"), ("posinf_count", "posinf_count"), ("neginf_count", "neginf_count"))
MERGES = (("first_x", "min(fk)"), ("first_y", "argMin(fy, fk)"), ("last_x", "max(lk)"), ("last_y", "argMax(ly, lk)"),
          ("min", "min(mn)"), ("max", "max(mx)"), ("sum", "sum(sm)"), ("finite_count", "sum(fc)"),
          ("nan_count", "sum(nc)"), ("posinf_count", "sum(pc)"), ("neginf_count", "sum(ngc)"))


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
        if count >= MIN_SHARE * n:
            return Grid(level, start, width, count)
    return None


def block_counts_sql(project: str, runs: str, paths: str) -> str:
    """(run_id, path, n): the points counted by each series' blocks (level 12: the fewest rows; every level counts
    the same points)."""
    return (f"SELECT run_id, path, sum(finite_count + nan_count + posinf_count + neginf_count) AS n "
            f"FROM track_float_blocks WHERE project_id = {project} AND run_id IN {runs} AND path IN {paths} "
            f"AND level = {LEVELS[-1]} GROUP BY run_id, path")


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


def layers(ranges: Sequence[BlockRange]) -> list[list[BlockRange]]:
    """Ranges in layers of distinct (run, path): a run's blocks serve several series only for forks of one
    parent charted together, and each layer is one scan in which a block row finds its range by (run, path)."""
    found: list[list[BlockRange]] = []
    for r in ranges:
        layer = next((layer for layer in found if all((o.run_id, o.path) != (r.run_id, r.path) for o in layer)),
                     None)
        if layer is None:
            found.append(layer := [])
        layer.append(r)
    return found


def layer_sql(ranges: Sequence[BlockRange], project: str, bind: Binder, wanted: Collection[str]) -> str:
    """The whole blocks of a layer's ranges in key order (so a bucket's blocks are adjacent): ri (1 + the
    range's place in the layer), level, block and the `wanted` block columns under their bucket names."""
    def column(values: list[Any], kind: str) -> str:
        return bind(values, f"Array({kind})")

    def of(values: list[Any], kind: str) -> str:
        return f"arrayElement({column(values, kind)}, ri)"

    keys = column([f"{r.run_id}/{r.path}" for r in ranges], "String")  # run ids have no "/": unambiguous
    numbers = column(list(range(1, len(ranges) + 1)), "UInt32")
    selected = ", ".join(f"{sql} AS {name}" for name, sql in BLOCK_COLUMNS if name in wanted)
    return (f"SELECT ri, level, block, {selected} FROM ("
            f"SELECT transform(concat(run_id, '/', path), {keys}, {numbers}, toUInt32(0)) AS ri, * "
            f"FROM track_float_blocks WHERE project_id = {project} "
            f"AND run_id IN {column(sorted({r.run_id for r in ranges}), 'String')} "
            f"AND path IN {column(sorted({r.path for r in ranges}), 'String')} "
            f"AND level IN {column(sorted({r.grid.level for r in ranges}), 'UInt8')}) "
            f"WHERE ri > 0 AND level = {of([r.grid.level for r in ranges], 'UInt8')} "
            f"AND block >= {of([r.first for r in ranges], 'Int64')} "
            f"AND block <= {of([r.last for r in ranges], 'Int64')} ORDER BY run_id, path, level, block")


def block_buckets(layer: Sequence[BlockRange], table: pa.Table, wanted: Collection[str]) -> Merged:
    """A layer's block rows (from `layer_sql`, in key order) merged into buckets."""
    pick = np.asarray(table.column("ri").to_numpy(), dtype=np.int64) - 1
    sid = np.array([r.sid for r in layer], dtype=np.int64)[pick]
    lo = np.array([r.grid.lo for r in layer])[pick]
    width = np.array([r.grid.width for r in layer])[pick]
    last = np.array([r.grid.count - 1 for r in layer], dtype=np.float64)[pick]
    top = (table.column("block").to_numpy() + 1) * np.exp2(table.column("level").to_numpy().astype(np.float64))
    idx = np.clip(np.ceil((top - lo) / width) - 1, 0, last).astype(np.int64)
    columns = {name: table.column(name).to_numpy() for name, _ in BLOCK_COLUMNS if name in wanted}
    return merge_rows(Merged(sid, idx, columns), adjacent=True)


@dataclass(frozen=True)
class Merged:
    """Rows in block form by (sid, idx): first_x is +inf and last_x -inf where no value is finite."""

    sid: npt.NDArray[np.int64]
    idx: npt.NDArray[np.int64]
    columns: dict[str, np.ndarray[Any, Any]]

    @staticmethod
    def concat(parts: Sequence[Merged]) -> Merged:
        names = set.intersection(*(set(p.columns) for p in parts))
        return Merged(np.concatenate([p.sid for p in parts]), np.concatenate([p.idx for p in parts]),
                      {name: np.concatenate([p.columns[name] for p in parts]) for name in names})

    def table(self, grids: Mapping[int, Grid]) -> pa.Table:
        """As the bucket store's rows: sid, idx, lo, w and the columns."""
        top = max(grids) + 1
        lo, width = np.zeros(top), np.ones(top)
        for sid, grid in grids.items():
            lo[sid], width[sid] = grid.lo, grid.width
        return pa.table({"sid": self.sid, "idx": self.idx, "lo": lo[self.sid], "w": width[self.sid],
                         **self.columns})


def merge_rows(rows: Merged, *, adjacent: bool) -> Merged:
    """Rows with one (sid, idx) merged into one (`adjacent`: such rows are next to each other already)."""
    sid, idx, columns = rows.sid, rows.idx, rows.columns
    if not adjacent:
        order = np.lexsort((idx, sid))
        sid, idx, columns = sid[order], idx[order], {name: values[order] for name, values in columns.items()}
    n = len(sid)
    if not n:
        return Merged(sid, idx, columns)
    starts = np.concatenate(([0], np.flatnonzero((sid[1:] != sid[:-1]) | (idx[1:] != idx[:-1])) + 1))
    group = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, n)))
    out: dict[str, np.ndarray[Any, Any]] = {}
    for key, value, best in (("first_x", "first_y", np.minimum), ("last_x", "last_y", np.maximum)):
        if key in columns:
            out[key] = best.reduceat(columns[key], starts)
            if value in columns:  # the value of the group's first row holding its best key
                row = np.minimum.reduceat(np.where(columns[key] == out[key][group], np.arange(n), n), starts)
                out[value] = columns[value][np.minimum(row, n - 1)]
    for name, reduce in (("min", np.minimum), ("max", np.maximum), ("sum", np.add), *(
            (count, np.add) for count in ("finite_count", "nan_count", "posinf_count", "neginf_count"))):
        if name in columns:
            out[name] = reduce.reduceat(columns[name], starts)
    return Merged(sid[starts], idx[starts], out)


def with_keys(wanted: Collection[str]) -> set[str]:
    """The columns to merge for `wanted`: a first or last value needs its point's x to be merged."""
    keys = {"first_x" for name in wanted if name == "first_y"} | {"last_x" for name in wanted if name == "last_y"}
    return {*wanted, *keys}


def merged_sql(parts: Sequence[str], wanted: Collection[str]) -> str:
    """Block-form rows merged into buckets (sid, idx, lo, w and the `wanted` bucket columns; first/last/min/max/sum
    are meaningless where finite_count = 0). Only what is wanted is merged: first and last points cost the most."""
    merges = "".join(f", {sql} AS {name}" for name, sql in MERGES if name in wanted)
    return f"SELECT sid, idx, any(lo) AS lo, any(w) AS w{merges} FROM ({' UNION ALL '.join(parts)}) GROUP BY sid, idx"
