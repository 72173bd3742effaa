"""Per-series summaries computed from a batch of points in columns, and merged into the stored ones.

A batch whose points all come after a series' last stored step extends the summary exactly (counts add, the
mean and the sum of squared deviations merge by Chan's formula). A batch that logs a step again, or one at or
before the stored last step, may replace points: those series are recomputed from the store after the write.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from neon_server.domain.track import FLOAT_SERIES, SeriesSummary

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BatchSummary:
    """One series' summary over this batch alone, and whether the batch repeats one of its own steps."""

    summary: SeriesSummary
    repeats_step: bool


def summarise(codes: npt.NDArray[np.int32], steps: F64, times_ms: F64, values: F64 | None,
              series_type: str) -> dict[int, BatchSummary]:
    """Summaries per path code. `values` is None for series without numbers (counts and steps only)."""
    n = len(codes)
    if n == 0:
        return {}
    order = np.argsort(codes, kind="stable")
    c, st = codes[order], steps[order]
    same = c[1:] == c[:-1]
    diffs = np.diff(st)
    if np.any(same & (diffs < 0)):  # steps out of order within a series: sort by (path, step)
        order = np.lexsort((steps, codes))
        c, st = codes[order], steps[order]
        same = c[1:] == c[:-1]
        diffs = np.diff(st)
    repeats = same & (diffs == 0)
    tm = times_ms[order]
    starts = np.concatenate(([0], np.flatnonzero(~same) + 1))
    ends = np.concatenate((starts[1:], [n]))
    counts = ends - starts
    repeat_groups = np.zeros(len(starts), dtype=bool)
    if repeats.any():
        group_of = np.repeat(np.arange(len(starts)), counts)
        repeat_groups[np.unique(group_of[1:][repeats])] = True
    last_time = np.maximum.reduceat(tm, starts)
    first_time = np.minimum.reduceat(tm, starts)
    out: dict[int, BatchSummary] = {}
    if values is None:
        for g, start in enumerate(starts):
            end = ends[g]
            out[int(c[start])] = BatchSummary(SeriesSummary(
                type=series_type, count=int(counts[g]), first_step=float(st[start]), last_step=float(st[end - 1]),
                last_time_ms=float(last_time[g]), first_time_ms=float(first_time[g])), bool(repeat_groups[g]))
        return out
    v = values[order]
    finite = np.isfinite(v)
    finite_count = np.add.reduceat(finite.astype(np.int64), starts)
    nan_count = np.add.reduceat(np.isnan(v).astype(np.int64), starts)
    posinf_count = np.add.reduceat((v == np.inf).astype(np.int64), starts)
    neginf_count = np.add.reduceat((v == -np.inf).astype(np.int64), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        sums = np.add.reduceat(np.where(finite, v, 0.0), starts)
        means = np.where(finite_count > 0, sums / np.maximum(finite_count, 1), np.nan)
        dev = np.where(finite, v - np.repeat(np.nan_to_num(means), counts), 0.0)
        m2 = np.add.reduceat(dev * dev, starts)
        mins = np.minimum.reduceat(np.where(finite, v, np.inf), starts)
        maxs = np.maximum.reduceat(np.where(finite, v, -np.inf), starts)
    for g, start in enumerate(starts):
        end = ends[g]
        fc = int(finite_count[g])
        out[int(c[start])] = BatchSummary(SeriesSummary(
            type=series_type, count=int(counts[g]), finite_count=fc, nan_count=int(nan_count[g]),
            posinf_count=int(posinf_count[g]), neginf_count=int(neginf_count[g]), first_step=float(st[start]),
            last_step=float(st[end - 1]), last_value=float(v[end - 1]),
            min_value=float(mins[g]) if fc else math.nan, max_value=float(maxs[g]) if fc else math.nan,
            mean_value=float(means[g]) if fc else math.nan, sum_sq_dev=float(m2[g]),
            last_time_ms=float(last_time[g]), first_time_ms=float(first_time[g])), bool(repeat_groups[g]))
    return out


def extends(stored: SeriesSummary | None, batch: BatchSummary) -> bool:
    """Whether the batch only adds points after the stored ones (then `merge` is exact)."""
    return not batch.repeats_step and (stored is None or stored.count == 0
                                       or batch.summary.first_step > stored.last_step)


def merge(stored: SeriesSummary | None, batch: SeriesSummary) -> SeriesSummary:
    """The summary of the stored points followed by the batch's (which all come after them)."""
    if stored is None or stored.count == 0:
        return batch
    if stored.type != FLOAT_SERIES or batch.type != FLOAT_SERIES:
        return replace(stored, type=batch.type, count=stored.count + batch.count, last_step=batch.last_step,
                       last_time_ms=max(stored.last_time_ms, batch.last_time_ms),
                       first_time_ms=min(stored.first_time_ms, batch.first_time_ms))
    a, b = stored, batch
    n = a.finite_count + b.finite_count
    if a.finite_count == 0:
        mean, m2, lo, hi = b.mean_value, b.sum_sq_dev, b.min_value, b.max_value
    elif b.finite_count == 0:
        mean, m2, lo, hi = a.mean_value, a.sum_sq_dev, a.min_value, a.max_value
    else:
        delta = b.mean_value - a.mean_value
        mean = a.mean_value + delta * b.finite_count / n
        m2 = a.sum_sq_dev + b.sum_sq_dev + delta * delta * a.finite_count * b.finite_count / n
        lo, hi = min(a.min_value, b.min_value), max(a.max_value, b.max_value)
    return SeriesSummary(type=FLOAT_SERIES, count=a.count + b.count, finite_count=n,
                         nan_count=a.nan_count + b.nan_count, posinf_count=a.posinf_count + b.posinf_count,
                         neginf_count=a.neginf_count + b.neginf_count, first_step=a.first_step,
                         last_step=b.last_step, last_value=b.last_value, min_value=lo, max_value=hi,
                         mean_value=mean, sum_sq_dev=m2, last_time_ms=max(a.last_time_ms, b.last_time_ms),
                         first_time_ms=min(a.first_time_ms, b.first_time_ms), rewritten=a.rewritten)
