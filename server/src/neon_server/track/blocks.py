"""Float series pre-aggregated in step blocks at write time (table `track_float_blocks`, migrations 0007, 0008).

Block k of level L holds a series' points with k·2^L < step ≤ (k+1)·2^L, at levels 4, 6, 8, 10 and 12 (16 to
4,096 steps, each four times the one below, so a chart's buckets always find blocks a few times smaller than
themselves: see storage/analytics/track_blocks.py). A block row carries what a bucket needs — the first and last
finite points as (step, value), min, max and sum of the finite values, the finite, NaN, +Inf and -Inf counts — so
a chart bucket whose bounds are block bounds is the merge of its blocks, and a chart over a million points reads
a few thousand rows.

A batch contributes partial rows for the blocks it touches (a block filled by two batches has two rows); every
column merges associatively, and readers merge whatever rows they find. Preview points are left out; readers
use the blocks of a series only when they count exactly the points its summary counts (so a series with preview
points, one written before blocks existed, or one with a step logged again is read from its points).
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from neon_server.track.columns import constant

LEVELS = (4, 6, 8, 10, 12)
BASE = LEVELS[0]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
PAIR = pa.struct([("1", pa.float64()), ("2", pa.float64())])


def block_of(steps: F64, level: int) -> I64:
    """The block (right-closed, as buckets are) holding each step."""
    return (np.ceil(steps / float(2**level)) - 1).astype(np.int64)


class _Partials:
    """Block rows in columns, sorted by (code, block)."""

    def __init__(self, codes: npt.NDArray[np.int32], blocks: I64, first: tuple[F64, F64], last: tuple[F64, F64],
                 sums: F64, mins: F64, maxs: F64, counts: tuple[I64, I64, I64, I64]) -> None:
        self.codes, self.blocks, self.first, self.last = codes, blocks, first, last
        self.sums, self.mins, self.maxs, self.counts = sums, mins, maxs, counts

    @classmethod
    def of_points(cls, codes: npt.NDArray[np.int32], steps: F64, values: F64) -> _Partials:
        finite = np.isfinite(values)
        return cls(codes, block_of(steps, BASE),
                   (np.where(finite, steps, np.inf), values), (np.where(finite, steps, -np.inf), values),
                   np.where(finite, values, 0.0), np.where(finite, values, np.inf), np.where(finite, values, -np.inf),
                   (finite.astype(np.int64), np.isnan(values).astype(np.int64),
                    (values == np.inf).astype(np.int64), (values == -np.inf).astype(np.int64)))

    def merged(self, blocks: I64) -> _Partials:
        """Rows with one (code, block) merged into one; rows are in step order within a code, so the first
        finite point of a group is its first row with a finite key, and the last its last."""
        n = len(blocks)
        change = (self.codes[1:] != self.codes[:-1]) | (blocks[1:] != blocks[:-1])
        starts = np.concatenate(([0], np.flatnonzero(change) + 1))
        rows = np.arange(n)
        first_row = np.minimum.reduceat(np.where(np.isfinite(self.first[0]), rows, n), starts)
        last_row = np.maximum.reduceat(np.where(np.isfinite(self.last[0]), rows, -1), starts)
        has_first, has_last = first_row < n, last_row >= 0
        first_row, last_row = np.where(has_first, first_row, starts), np.where(has_last, last_row, starts)
        return _Partials(
            self.codes[starts], blocks[starts],
            (np.where(has_first, self.first[0][first_row], np.inf), self.first[1][first_row]),
            (np.where(has_last, self.last[0][last_row], -np.inf), self.last[1][last_row]),
            np.add.reduceat(self.sums, starts), np.minimum.reduceat(self.mins, starts),
            np.maximum.reduceat(self.maxs, starts), tuple(np.add.reduceat(c, starts) for c in self.counts))  # type: ignore[arg-type]


def block_rows(project_id: str, run_id: str, paths: list[str], codes: npt.NDArray[np.int32], steps: F64,
               values: F64, preview: npt.NDArray[np.bool_]) -> pa.Table | None:
    """The block rows of a batch of one run's float points (`codes` index `paths`), at every level."""
    keep = ~preview
    c, st, v = codes[keep], steps[keep], values[keep]
    if not len(c):
        return None
    ordered = len(c) < 2 or bool(np.all((c[1:] > c[:-1]) | ((c[1:] == c[:-1]) & (st[1:] >= st[:-1]))))
    if not ordered:
        order = np.lexsort((st, c))
        c, st, v = c[order], st[order], v[order]
    points = _Partials.of_points(c, st, v)
    level = points.merged(points.blocks)
    parts = [(BASE, level)]
    for below, number in itertools.pairwise(LEVELS):
        level = level.merged(np.floor_divide(level.blocks, 2 ** (number - below)))
        parts.append((number, level))
    size = sum(len(p.codes) for _, p in parts)
    path_array = pa.array(paths, pa.string())
    return pa.table({
        "project_id": constant(project_id, size), "run_id": constant(run_id, size),
        "path": pa.concat_arrays([path_array.take(pa.array(p.codes)) for _, p in parts]),
        "level": pa.array(np.concatenate([np.full(len(p.codes), n, np.uint8) for n, p in parts])),
        "block": pa.array(np.concatenate([p.blocks for _, p in parts])),
        "first": _pairs([p.first for _, p in parts]), "last": _pairs([p.last for _, p in parts]),
        "min_value": pa.array(np.concatenate([p.mins for _, p in parts])),
        "max_value": pa.array(np.concatenate([p.maxs for _, p in parts])),
        "sum_value": pa.array(np.concatenate([p.sums for _, p in parts])),
        **{name: pa.array(np.concatenate([p.counts[i] for _, p in parts]).astype(np.uint64))
           for i, name in enumerate(("finite_count", "nan_count", "posinf_count", "neginf_count"))},
    })


def _pairs(parts: list[tuple[F64, F64]]) -> pa.StructArray:
    keys = np.concatenate([k for k, _ in parts])
    values = np.concatenate([v for _, v in parts])
    return pa.StructArray.from_arrays([pa.array(keys), pa.array(values)], fields=list(PAIR))
