"""Formulas computed in plain numpy, step by step, as docs/track-formulas.md defines them: what the chDB results
are checked against."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from neon_server.domain.track import SeriesBuckets
from neon_server.track.formula import BinOp, Call, Formula, Neg, Node, Num, Ref

Series = tuple[np.ndarray, np.ndarray]  # steps, values


def evaluate(formula: Formula, data: dict[str, dict[float, float]]) -> Series:
    """The formula over one run's points (path → {step: value}): steps where every path has a point."""
    common = sorted(set.intersection(*(set(data[p]) for p in formula.references)))
    steps = np.array(common, dtype=float)
    columns = {p: np.array([data[p][s] for s in common], dtype=float) for p in formula.references}
    with np.errstate(all="ignore"):
        return _node(formula.root, steps, columns)


def _join(a: Series, b: Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    steps = np.intersect1d(a[0], b[0])
    return steps, a[1][np.isin(a[0], steps)], b[1][np.isin(b[0], steps)]


def _node(node: Node, steps: np.ndarray, columns: dict[str, np.ndarray]) -> Series:
    if isinstance(node, Ref):
        return steps, columns[node.path]
    if isinstance(node, Num):
        return steps, np.full(len(steps), node.value)
    if isinstance(node, Neg):
        s, v = _node(node.arg, steps, columns)
        return s, -v
    if isinstance(node, BinOp):
        s, a, b = _join(_node(node.left, steps, columns), _node(node.right, steps, columns))
        ops: dict[str, Any] = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "^": np.power,
                               "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
                               "==": np.equal, "!=": np.not_equal}
        return s, ops[node.op](a, b).astype(float)
    assert isinstance(node, Call)
    args = [_node(a, steps, columns) for a in node.args]
    s, x = args[0]
    return _call(node, s, x, args)


def _call(node: Call, s: np.ndarray, x: np.ndarray, args: list[Series]) -> Series:  # noqa: PLR0911
    name, params = node.name, node.params
    simple: dict[str, Any] = {"log": np.log, "log10": np.log10, "exp": np.exp, "abs": np.abs, "sqrt": np.sqrt,
                              "cumsum": np.cumsum, "cummin": np.fmin.accumulate, "cummax": np.fmax.accumulate}
    if name in simple:
        return s, simple[name](x)
    if name == "clip":
        return s, np.clip(x, params[0], params[1])
    if name in ("min", "max"):
        s, a, b = _join(args[0], args[1])
        return s, (np.minimum if name == "min" else np.maximum)(a, b)
    if name == "ema":
        out, num, den, keep = np.empty(len(x)), 0.0, 0.0, 1 - params[0]
        for i, v in enumerate(x):
            num, den = num * keep + v, den * keep + 1
            out[i] = num / den
        return s, out
    if name == "sma":
        w = int(params[0])
        return s, np.array([np.mean(x[max(0, i - w + 1):i + 1]) for i in range(len(x))])
    if name == "gaussian":
        sigma = params[0]
        k = math.ceil(3 * sigma)
        weights = np.exp(-(np.arange(-k, k + 1) ** 2) / (2 * sigma * sigma))
        out = np.empty(len(x))
        for i in range(len(x)):
            lo, hi = max(0, i - k), min(len(x), i + k + 1)
            w = weights[lo - (i - k):hi - (i - k)]
            out[i] = np.sum(x[lo:hi] * w) / np.sum(w)
        return s, out
    if name == "diff":
        return s[1:], x[1:] - x[:-1]
    if name == "rate":
        return s[1:], (x[1:] - x[:-1]) / (s[1:] - s[:-1])
    assert name == "normalize"
    finite = x[np.isfinite(x)]
    return s, x / finite[0] if len(finite) else np.full(len(x), math.nan)


def same(a: float | None, b: float | None, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == pytest.approx(b, rel=rel, abs=1e-12)


def bucket_mismatch(result: SeriesBuckets, steps: np.ndarray, values: np.ndarray, n: int,  # noqa: PLR0911
                    window: tuple[float, float] | None = None) -> str:
    """'' when `result` holds the points (steps, values) bucketed into n buckets, else what differs."""
    inside = [(float(x), float(y)) for x, y in zip(steps, values, strict=True)
              if window is None or window[0] <= x <= window[1]]
    if not inside:
        return "" if result.from_x is None else f"expected no points, got range {result.from_x}"
    lo, hi = window or (inside[0][0], inside[-1][0])
    if not (same(result.from_x, lo) and same(result.to_x, hi)):
        return f"range {result.from_x}..{result.to_x}, expected {lo}..{hi}"
    if len(inside) <= n:
        if not result.exact or len(result.points) != len(inside):
            return f"expected {len(inside)} exact points, got exact={result.exact} {len(result.points)}"
        bad = [(p, e) for p, e in zip(result.points, inside, strict=True) if p[0] != e[0] or not same(p[1], e[1])]
        return f"points differ, first: {bad[0]}" if bad else ""
    w = (hi - lo) / n
    expected: dict[int, list[tuple[float, float]]] = {}
    for x, y in inside:
        expected.setdefault(0 if w == 0 else max(min(math.ceil((x - lo) / w) - 1, n - 1), 0), []).append((x, y))
    got = result.buckets
    if [b.index for b in got] != sorted(expected):
        return f"bucket indexes {[b.index for b in got][:10]}…, expected {sorted(expected)[:10]}…"
    for b in got:
        pts = expected[b.index]
        finite = [(x, y) for x, y in pts if math.isfinite(y)]
        counts = (len(finite), sum(math.isnan(y) for _, y in pts), sum(y == math.inf for _, y in pts),
                  sum(y == -math.inf for _, y in pts))
        if (b.finite_count, b.nan_count, b.posinf_count, b.neginf_count) != counts:
            return f"bucket {b.index}: counts {b.finite_count, b.nan_count, b.posinf_count, b.neginf_count}, " \
                   f"expected {counts}"
        if finite:
            want = (finite[0][1], finite[-1][1], min(y for _, y in finite), max(y for _, y in finite),
                    math.fsum(y for _, y in finite))
            have = (b.first[1] if b.first else None, b.last[1] if b.last else None, b.min, b.max, b.sum)
            if not all(same(h, e, 1e-7) for h, e in zip(have, want, strict=True)):
                return f"bucket {b.index}: first/last/min/max/sum {have}, expected {want}"
    return ""
