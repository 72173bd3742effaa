"""Buckets over real chDB, checked against the same computation in plain Python on the same points."""

from __future__ import annotations

import asyncio
import math
import random
from typing import Any

import pytest

from neon_server.domain.track import BucketQuery, ForkPoint, RunCreate, RunWrites, SeriesBuckets
from neon_server.runtime import Services

T0 = 1_760_000_000_000.0


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def expected_buckets(points: list[tuple[float, float]], n: int, lo: float, hi: float,
                     first_alone: bool = False) -> dict[int, dict[str, Any]]:
    """The definition, point by point: bucket i holds lo + i·w < x <= lo + (i+1)·w (bucket 0 also x = lo)."""
    w = (hi - lo) / n
    out: dict[int, dict[str, Any]] = {}
    for x, y in sorted(points):
        if not lo <= x <= hi:
            continue
        if w == 0:
            i = 0
        elif first_alone:
            i = 0 if x <= lo else min(math.ceil((x - lo) / w), n)
        else:
            i = max(min(math.ceil((x - lo) / w) - 1, n - 1), 0)
        b = out.setdefault(i, {"finite": [], "nan": 0, "pinf": 0, "ninf": 0})
        if math.isnan(y):
            b["nan"] += 1
        elif y == math.inf:
            b["pinf"] += 1
        elif y == -math.inf:
            b["ninf"] += 1
        else:
            b["finite"].append((x, y))
    return out


def check(result: SeriesBuckets, points: list[tuple[float, float]], n: int, lo: float, hi: float) -> None:
    expected = expected_buckets(points, n, lo, hi)
    assert not result.exact
    assert (result.from_x, result.to_x) == (pytest.approx(lo), pytest.approx(hi))
    assert [b.index for b in result.buckets] == sorted(expected)
    for b in result.buckets:
        e = expected[b.index]
        finite = e["finite"]
        assert (b.finite_count, b.nan_count, b.posinf_count, b.neginf_count) == (
            len(finite), e["nan"], e["pinf"], e["ninf"])
        if finite:
            assert b.first == finite[0]
            assert b.last == finite[-1]
            assert b.min == min(y for _, y in finite)
            assert b.max == max(y for _, y in finite)
            assert b.sum == pytest.approx(math.fsum(y for _, y in finite), rel=1e-12)
        else:
            assert b.first is None and b.sum is None  # noqa: PT018


@pytest.fixture
def project(services: Services) -> str:
    project = services.projects.create("buckets").id
    rnd = random.Random(7)
    run(services.track.create_run(project, RunCreate("a")))
    writes = RunWrites("a")
    for i in range(5000):
        y = rnd.gauss(0, 1)
        if i % 97 == 0:
            y = math.nan
        elif i % 331 == 0:
            y = math.inf
        elif i % 557 == 0:
            y = -math.inf
        writes.add_float("loss", i * 0.5, T0 + i * 1000 + rnd.random() * 10, y)
        writes.add_float("lr", i * 0.5, T0 + i * 1000, 0.001 * (1 + i))
    run(services.track.write(project, writes))
    return project


def points_of(services: Services, project: str, run_id: str, path: str, x: str = "step") -> list[tuple[float, float]]:
    table = services.track.points("float", project, run_id, path).to_pydict()
    xs = table["step"] if x == "step" else [float(t) for t in table["time_ms"]]
    return list(zip(xs, table["value"], strict=True))


def test_step_buckets_match_python(services: Services, project: str) -> None:
    # 120 buckets of ~21 steps: too few steps a bucket for a grid of blocks, so the equal-width grid on the points
    [result] = services.track.buckets(project, [("a", "loss")], BucketQuery(n=120))
    check(result, points_of(services, project, "a", "loss"), 120, 0.0, 2499.5)


def test_a_window_buckets_only_inside_it_and_few_points_come_back_exactly(services: Services, project: str) -> None:
    [zoomed] = services.track.buckets(project, [("a", "loss")], BucketQuery(n=50, window=(100.0, 300.0)))
    check(zoomed, points_of(services, project, "a", "loss"), 50, 100.0, 300.0)
    [exact] = services.track.buckets(project, [("a", "loss")], BucketQuery(n=1000, window=(100.0, 300.0)))
    inside = [(x, y) for x, y in points_of(services, project, "a", "loss") if 100 <= x <= 300]
    assert exact.exact
    assert len(exact.points) == len(inside) == 401
    for (x, y), (ex, ey) in zip(exact.points, inside, strict=True):
        assert x == ex
        assert y == ey or (math.isnan(y) and math.isnan(ey))


def test_time_and_relative_time_and_metric_axes(services: Services, project: str) -> None:
    pts = points_of(services, project, "a", "loss", x="time")
    lo, hi = min(x for x, _ in pts), max(x for x, _ in pts)
    [by_time] = services.track.buckets(project, [("a", "loss")], BucketQuery(n=64, x="time"))
    check(by_time, pts, 64, lo, hi)
    [relative] = services.track.buckets(project, [("a", "loss")], BucketQuery(n=64, x="relative"))
    check(relative, [(x - lo, y) for x, y in pts], 64, 0.0, hi - lo)
    lr = dict(points_of(services, project, "a", "lr"))
    against_lr = [(lr[x], y) for x, y in points_of(services, project, "a", "loss")]
    [by_lr] = services.track.buckets(project, [("a", "loss")], BucketQuery(n=30, x="metric", x_path="lr"))
    check(by_lr, against_lr, 30, min(x for x, _ in against_lr), max(x for x, _ in against_lr))


def test_log_x_cuts_buckets_on_log10(services: Services, project: str) -> None:
    [result] = services.track.buckets(project, [("a", "loss")], BucketQuery(n=20, log_x=True))
    pts = [(math.log10(x), y) for x, y in points_of(services, project, "a", "loss") if x > 0]
    expected = expected_buckets(pts, 20, math.log10(0.5), math.log10(2499.5))
    assert (result.from_x, result.to_x) == (pytest.approx(0.5), pytest.approx(2499.5))
    assert [b.index for b in result.buckets] == sorted(expected)
    assert [b.finite_count for b in result.buckets] == [len(expected[i]["finite"]) for i in sorted(expected)]
    assert result.buckets[-1].to_x == pytest.approx(2499.5)


def test_each_run_over_its_own_range_or_a_shared_one_and_fork_lineage(services: Services, project: str) -> None:
    run(services.track.create_run(project, RunCreate("short")))
    writes = RunWrites("short")
    for i in range(200):
        writes.add_float("loss", i, T0, float(i))
    run(services.track.write(project, writes))
    own = services.track.buckets(project, [("a", "loss"), ("short", "loss")], BucketQuery(n=10))
    assert (own[1].from_x, own[1].to_x) == (0.0, 199.0)  # not squashed into the long run's range
    shared = services.track.buckets(project, [("a", "loss"), ("short", "loss")],
                                    BucketQuery(n=10, shared_range=True))
    assert (shared[1].from_x, shared[1].to_x) == (0.0, 2499.5)
    assert [b.index for b in shared[1].buckets] == [0]
    run(services.track.create_run(project, RunCreate("fork", fork=ForkPoint("short", 99))))
    writes = RunWrites("fork")
    for i in range(100, 150):
        writes.add_float("loss", i, T0, -float(i))
    run(services.track.write(project, writes))
    [stitched] = services.track.buckets(project, [("fork", "loss")], BucketQuery(n=1000))
    assert stitched.exact
    assert stitched.points == tuple([(float(i), float(i)) for i in range(100)] + [(float(i), -float(i))
                                                                                  for i in range(100, 150)])
    [own_only] = services.track.buckets(project, [("fork", "loss")], BucketQuery(n=1000), lineage=False)
    assert len(own_only.points) == 50


def test_neptune_first_bucket_alone(services: Services, project: str) -> None:
    [result] = services.track.buckets(project, [("a", "lr")], BucketQuery(n=10, first_alone=True))
    expected = expected_buckets(points_of(services, project, "a", "lr"), 10, 0.0, 2499.5, first_alone=True)
    assert [b.index for b in result.buckets] == list(range(11))
    assert result.buckets[0].from_x == -math.inf
    assert result.buckets[0].finite_count == 1
    assert [b.finite_count for b in result.buckets] == [len(expected[i]["finite"]) for i in range(11)]


def test_the_api_answers_buckets_and_refuses_bad_requests(services: Services, project: str, client) -> None:
    _key, secret = services.keys.create(project)
    headers = {"Authorization": f"Bearer {secret}"}
    answer = client.post("/api/track/buckets", json={"series": [{"run_id": "a", "path": "loss"}], "buckets": 10},
                         headers=headers)
    assert answer.status_code == 200
    [series] = answer.json()["series"]
    counts = series["buckets"]
    assert sum(counts["finite_count"] + counts["nan_count"] + counts["posinf_count"] + counts["neginf_count"]) == 5000
    assert len(counts["index"]) == 10
    for body, status in [({"series": [{"run_id": "nope", "path": "loss"}]}, 404),
                         ({"series": [{"run_id": "a", "path": "loss"}], "from_x": 5, "to_x": 1}, 422),
                         ({"series": [{"run_id": "a", "path": "loss"}], "from_x": 5}, 422),
                         ({"series": [{"run_id": "a", "path": "loss"}], "x": "metric"}, 422),
                         ({"series": [{"run_id": "a", "path": "loss"}], "buckets": 1001}, 422)]:
        assert client.post("/api/track/buckets", json=body, headers=headers).status_code == status, body
