"""Formulas evaluated in real chDB, checked against the same computation in numpy on the same points."""

from __future__ import annotations

import asyncio
import math
import random
from typing import Any

import numpy as np
import pytest

from neon_server.domain.track import BucketQuery, ForkPoint, RunCreate, RunWrites
from neon_server.runtime import Services
from neon_server.track.formula import parse
from server.tests.formula_reference import bucket_mismatch, evaluate, same

T0 = 1_760_000_000_000.0
N = 3000


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def write(services: Services, project: str, run_id: str, points: dict[str, dict[float, float]],
          fork: ForkPoint | None = None) -> None:
    run(services.track.create_run(project, RunCreate(run_id, fork=fork)))
    writes = RunWrites(run_id)
    for path, series in points.items():
        for step, value in series.items():
            writes.add_float(path, step, T0 + step, value)
    outcome = run(services.track.write(project, writes))
    assert outcome.ok, outcome
    assert not outcome.rejections, outcome


def noisy(rnd: random.Random, n: int) -> dict[float, float]:
    out = {}
    for i in range(n):
        y = rnd.gauss(0, 1)
        if i % 97 == 5:
            y = math.nan
        elif i % 331 == 7:
            y = math.inf
        elif i % 557 == 9:
            y = -math.inf
        out[float(i)] = y
    return out


@pytest.fixture
def project(services: Services) -> tuple[str, dict[str, dict[float, float]]]:
    project = services.projects.create("formulas").id
    rnd = random.Random(11)
    data = {"loss": noisy(rnd, N), "lr": {float(i): 0.001 * (1 + i) + rnd.random() * 1e-4 for i in range(N)},
            "acc": {float(i): 0.5 + i / 6000 + rnd.random() / 10 for i in range(0, N, 2)},
            "odd path/with } and spaces": {float(i): rnd.uniform(-2, 2) for i in range(N)}}
    write(services, project, "a", data)
    return project, data


FORMULAS = [
    "${loss} + ${lr} * 2", "${loss} - ${lr} / 3", "-${loss} ^ 2", "${lr} ** 0.5 - 1", "${loss} / (${lr} - 0.5)",
    "${loss} < ${lr}", "${loss} <= 0", "${loss} > ${lr}", "${loss} >= 0.5", "${loss} == ${loss}", "${loss} != 0",
    "log(${loss})", "log10(${lr})", "exp(${loss})", "abs(${loss})", "sqrt(${loss})", "clip(${loss}, -0.5, 0.5)",
    "min(${loss}, ${lr})", "max(${loss}, 0.5 * ${lr})", "ema(${lr}, 0.1)", "ema(${loss}, 0.3)", "ema(${lr}, 1)",
    "sma(${lr}, 10)", "sma(${loss}, 50)", "sma(${lr}, 1)", "gaussian(${lr}, 2.5)", "gaussian(${loss}, 1)",
    "diff(${lr})", "rate(${acc})", "diff(diff(${lr}))", "cumsum(${lr})", "cumsum(${loss})", "cummin(${loss})",
    "cummax(${loss})", "normalize(${lr})", "normalize(${loss})", "ema(diff(${lr}), 0.2) / sma(${lr}, 5)",
    "${loss} / ${acc}", "ema(${acc}, 0.5) - ${lr}", "cumsum(diff(${lr})) + sma(gaussian(${lr}, 3), 7)",
    "${odd path/with \\} and spaces} * 2", "max(cummax(${lr}), ema(${lr}, 0.01))",
    # after a diff, a function starts at its first point
    "gaussian(diff(${lr}), 2)", "sma(diff(${acc}), 4)", "cummax(rate(${acc}))", "normalize(diff(${lr}))",
    "clip(diff(${lr}), 0, 0.001)", "min(diff(${lr}), ${lr})", "cumsum(diff(${loss}))", "diff(${lr}) < ${lr}",
]


def test_every_operator_and_function_matches_numpy(services: Services, project: tuple[str, Any]) -> None:
    project_id, data = project
    failures = []
    for text in FORMULAS:
        formula = parse(text)
        steps, values = evaluate(formula, data)
        for q, window in [(BucketQuery(n=100), None), (BucketQuery(n=1000, window=(100.0, 400.0)), (100.0, 400.0))]:
            [result] = services.track_formulas.runs(project_id, text, ["a"], q)
            problem = bucket_mismatch(result, steps, values, q.n, window)
            if problem:
                failures.append(f"{text} (window {window}): {problem}")
    assert not failures, "\n".join(failures)


def test_steps_that_only_look_consecutive_are_still_aligned_by_step(services: Services) -> None:
    """Series of consecutive integer steps are pasted side by side and ema counts rows by step; a series whose
    summary looks the same (as many points as integers from its first to its last step) but holds a fractional
    step is caught by the statement and evaluated the general way."""
    project = services.projects.create("steps").id
    rnd = random.Random(5)
    dense = {float(i): rnd.uniform(1, 2) for i in range(100)}
    fractional = {(i + 0.5 if i == 50 else float(i)): rnd.uniform(1, 2) for i in range(100)}
    write(services, project, "dense", {"a": dense, "b": dict(dense)})
    write(services, project, "odd", {"a": fractional, "b": dense})
    for text in ["ema(${a}, 0.3) / ${b}", "ema(${a}, 0.3)", "${a} - ${b}"]:
        for run_id, data in [("dense", {"a": dense, "b": dense}), ("odd", {"a": fractional, "b": dense})]:
            steps, values = evaluate(parse(text), data)
            for n in (1000, 7):
                [result] = services.track_formulas.runs(project, text, [run_id], BucketQuery(n=n))
                assert not bucket_mismatch(result, steps, values, n), (text, run_id, n)
        [group] = services.track_formulas.groups(project, f"max({text})", [["dense", "odd"]], BucketQuery(n=1000))
        per_run = [dict(zip(*evaluate(parse(text), d), strict=True)) for d in ({"a": dense, "b": dense},
                                                                              {"a": fractional, "b": dense})]
        expected = [(x, max(r[x] for r in per_run if x in r)) for x in sorted({x for r in per_run for x in r})]
        assert [x for x, _, _, _ in group.points] == [x for x, _ in expected], text
        assert [c for _, c, _, _ in group.points] == pytest.approx([c for _, c in expected]), text


def test_nan_and_infinities_follow_ieee_and_are_counted(services: Services, project: tuple[str, Any]) -> None:
    project_id, data = project
    [result] = services.track_formulas.runs(project_id, "log(${loss})", ["a"], BucketQuery(n=10))
    loss = np.array(list(data["loss"].values()))
    with np.errstate(all="ignore"):
        logged = np.log(loss)
    assert sum(b.nan_count for b in result.buckets) == int(np.isnan(logged).sum()) > N // 3  # negatives → NaN
    assert sum(b.posinf_count for b in result.buckets) == int((logged == math.inf).sum()) > 0
    [divided] = services.track_formulas.runs(project_id, "${lr} / (${lr} - ${lr})", ["a"], BucketQuery(n=10))
    assert sum(b.posinf_count for b in divided.buckets) == N  # x / 0 = +Inf, as IEEE says


def test_a_fork_is_stitched_with_its_ancestors_when_lineage_is_asked(services: Services) -> None:
    project = services.projects.create("forks").id
    parent = {"loss": {float(i): float(i) for i in range(200)}, "lr": {float(i): 1 + i / 100 for i in range(200)}}
    write(services, project, "parent", parent)
    child = {"loss": {float(i): -float(i) for i in range(100, 150)}, "lr": {float(i): 2.0 for i in range(100, 150)}}
    write(services, project, "child", child, fork=ForkPoint("parent", 99))
    text = "cumsum(${loss}) / ${lr}"
    stitched = {p: {**{s: v for s, v in parent[p].items() if s <= 99}, **child[p]} for p in parent}
    steps, values = evaluate(parse(text), stitched)
    [result] = services.track_formulas.runs(project, text, ["child"], BucketQuery(n=1000))
    assert result.exact
    assert not bucket_mismatch(result, steps, values, 1000)
    [bucketed] = services.track_formulas.runs(project, text, ["child"], BucketQuery(n=7))
    assert not bucket_mismatch(bucketed, steps, values, 7)
    [own] = services.track_formulas.runs(project, text, ["child"], BucketQuery(n=1000), lineage=False)
    steps, values = evaluate(parse(text), child)
    assert not bucket_mismatch(own, steps, values, 1000)
    assert own.points[0] == (100.0, -50.0)


def test_groups_aggregate_their_runs_with_a_band(services: Services) -> None:
    project = services.projects.create("groups").id
    rnd = random.Random(3)
    runs = {}
    for r, length in enumerate([300, 250, 300, 120]):
        runs[f"r{r}"] = {"loss": {float(i): (rnd.gauss(1 / (1 + i), 0.1) if (i + r) % 53 else math.nan)
                                  for i in range(length)}}
        write(services, project, f"r{r}", runs[f"r{r}"])
    groups = [["r0", "r1", "r2"], ["r3"]]
    for aggregate in ("mean", "median", "min", "max", "std"):
        text = f"{aggregate}(ema(${{loss}}, 0.2))"
        per_run = {r: dict(zip(*evaluate(parse(text), runs[r]), strict=True)) for r in runs}
        for n in (1000, 25):
            answer = services.track_formulas.groups(project, text, groups, BucketQuery(n=n))
            for members, got in zip(groups, answer, strict=True):
                expected = _expected_group(aggregate, [per_run[r] for r in members])
                steps = np.array(sorted(expected))
                centre = np.array([expected[s][0] for s in steps])
                assert not bucket_mismatch(got.line, steps, centre, n), (text, n, members)
                if got.line.exact:
                    for (x, c, lo, hi), s in zip(got.points, steps, strict=True):
                        assert x == s
                        assert (same(c, expected[s][0]), same(lo, expected[s][1]), same(hi, expected[s][2])) == (
                            True, True, True), (text, x)
                else:
                    for b, lo, hi in zip(got.line.buckets, got.lower, got.upper, strict=True):
                        inside = [s for s in steps if b.from_x < s <= b.to_x or (b.index == 0 and s == b.from_x)]
                        lows = [expected[s][1] for s in inside if math.isfinite(expected[s][1])]
                        highs = [expected[s][2] for s in inside if math.isfinite(expected[s][2])]
                        assert same(lo, min(lows) if lows else None), (text, b.index)
                        assert same(hi, max(highs) if highs else None), (text, b.index)


def _expected_group(aggregate: str, runs: list[dict[float, float]]) -> dict[float, tuple[float, float, float]]:
    out = {}
    for step in sorted(set().union(*runs)):
        values = np.array([r[step] for r in runs if step in r and math.isfinite(r[step])])
        if not len(values):
            out[step] = (math.nan, math.nan, math.nan)
            continue
        mean, std = float(np.mean(values)), float(np.std(values))
        out[step] = {
            "mean": (mean, mean - std, mean + std),
            "median": tuple(float(np.quantile(values, q)) for q in (0.5, 0.25, 0.75)),
            "min": (float(values.min()), float(values.min()), float(values.max())),
            "max": (float(values.max()), float(values.min()), float(values.max())),
            "std": (std, std, std),
        }[aggregate]
    return out


def test_a_window_keeps_the_history_before_it_and_log_x_cuts_on_log10(services: Services,
                                                                       project: tuple[str, Any]) -> None:
    project_id, data = project
    text = "cumsum(${lr})"
    steps, values = evaluate(parse(text), data)
    [zoomed] = services.track_formulas.runs(project_id, text, ["a"], BucketQuery(n=1000, window=(2000.0, 2100.0)))
    assert zoomed.exact
    assert len(zoomed.points) == 101
    assert zoomed.points[0][1] == pytest.approx(values[2000], rel=1e-12)  # the sum of everything before, too
    [logged] = services.track_formulas.runs(project_id, text, ["a"], BucketQuery(n=20, log_x=True))
    assert (logged.from_x, logged.to_x) == (pytest.approx(1.0), pytest.approx(N - 1.0))
    keep = steps > 0
    edges = np.linspace(0, math.log10(N - 1), 21)
    counts = np.histogram(np.log10(steps[keep]), edges)[0]
    assert [b.finite_count for b in logged.buckets] == [int(c) for c in counts if c]


def test_runs_without_the_series_come_back_empty_and_unknown_runs_are_404(services: Services,
                                                                           project: tuple[str, Any]) -> None:
    project_id, _ = project
    write(services, project_id, "empty", {"other": {1.0: 1.0}})
    a, empty = services.track_formulas.runs(project_id, "${loss} * ${acc}", ["a", "empty"], BucketQuery(n=10))
    assert a.from_x == 0.0
    assert empty.from_x is None
    assert not empty.points
    from neon_server.services.errors import NotFound

    with pytest.raises(NotFound):
        services.track_formulas.runs(project_id, "${loss}", ["nope"], BucketQuery(n=10))


@pytest.mark.slow
def test_hundreds_of_runs_in_one_request(services: Services) -> None:
    """The SQL stays small (one read per series, not per run): 400 runs × 16 series in one request (a read per run
    and series would be 6,400 SELECTs, over ClickHouse's query size)."""
    project = services.projects.create("many").id
    runs = 400
    paths = [f"m{i}" for i in range(16)]

    async def one(r: int) -> None:
        writes = RunWrites(f"r{r}")
        for i, path in enumerate(paths):
            for step in range(3):
                writes.add_float(path, step, T0, r + i + step)
        await services.track.write(project, writes)

    async def fill() -> None:  # runs are numbered one by one; their points go concurrently, committed in groups
        for r in range(runs):
            await services.track.create_run(project, RunCreate(f"r{r}"))
        for start in range(0, runs, 200):
            await asyncio.gather(*(one(r) for r in range(start, start + 200)))

    run(fill())
    text = " + ".join(f"${{{p}}}" for p in paths)
    results = services.track_formulas.runs(project, text, [f"r{r}" for r in range(runs)], BucketQuery(n=10))
    for r, result in enumerate(results):
        assert result.points == tuple((float(s), float(16 * (r + s) + sum(range(16)))) for s in range(3)), r
    [group] = services.track_formulas.groups(project, f"mean({text})", [[f"r{r}" for r in range(runs)]],
                                             BucketQuery(n=10))
    assert [c for _, c, _, _ in group.points] == [pytest.approx(16 * ((runs - 1) / 2 + s) + 120) for s in range(3)]
