"""Pre-aggregated step blocks: written with the points, merged into chart buckets on a block-aligned grid, and
left aside whenever they might not count every point exactly. Every answer is checked point by point, in plain
Python, against the bucket bounds it states."""

from __future__ import annotations

import asyncio
import math
import random
from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from neon_server.domain.track import BucketQuery, ForkPoint, RunCreate, RunWrites, SeriesBuckets
from neon_server.runtime import Services
from neon_server.track.blocks import LEVELS, block_rows

T0 = 1_760_000_000_000.0


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def value(rnd: random.Random, i: int) -> float:
    if i % 97 == 0:
        return math.nan
    if i % 331 == 0:
        return math.inf
    if i % 557 == 0:
        return -math.inf
    return rnd.gauss(0, 1)


def write(services: Services, project: str, run_id: str, points: list[tuple[float, float]], *, batches: int = 1,
          preview_every: int = 0) -> None:
    size = math.ceil(len(points) / batches)
    for start in range(0, len(points), size):
        writes = RunWrites(run_id)
        for i, (x, y) in enumerate(points[start:start + size], start):
            writes.add_float("loss", x, T0 + i, y, preview=bool(preview_every) and i % preview_every == 0)
        outcome = run(services.track.write(project, writes))
        assert outcome.accepted == len(points[start:start + size])


def same(a: float | None, b: float | None) -> bool:
    return a == b or (a is not None and b is not None and math.isnan(a) and math.isnan(b))


def check(result: SeriesBuckets, points: list[tuple[float, float]], lo: float, hi: float) -> None:
    """Each bucket holds exactly the points between the bounds it states; together they hold every point."""
    inside = sorted((x, y) for x, y in points if lo <= x <= hi)
    assert not result.exact
    buckets = result.buckets
    assert sum(b.finite_count + b.nan_count + b.posinf_count + b.neginf_count for b in buckets) == len(inside)
    for b in buckets:
        held = [(x, y) for x, y in inside if b.from_x < x <= b.to_x or (b.index == 0 and x == b.from_x)]
        finite = [(x, y) for x, y in held if math.isfinite(y)]
        assert (b.finite_count, b.nan_count, b.posinf_count, b.neginf_count) == (
            len(finite), sum(math.isnan(y) for _, y in held), sum(y == math.inf for _, y in held),
            sum(y == -math.inf for _, y in held)), b
        if finite:
            assert (b.first, b.last) == (finite[0], finite[-1])
            assert (b.min, b.max) == (min(y for _, y in finite), max(y for _, y in finite))
            assert b.sum == pytest.approx(math.fsum(y for _, y in finite), rel=1e-9, abs=1e-9)
        else:
            assert b.first is None and b.min is None and b.sum is None  # noqa: PT018


def aligned(result: SeriesBuckets, size: float) -> bool:
    """Whether the buckets lie on a grid of whole blocks of this size (so blocks were read)."""
    return all(b.from_x % size == 0 and b.to_x % size == 0 for b in result.buckets)


@pytest.fixture
def project(services: Services) -> tuple[str, list[tuple[float, float]]]:
    project = services.projects.create("blocks").id
    rnd = random.Random(11)
    points = [(float(i), value(rnd, i)) for i in range(1, 20_001)]
    run(services.track.create_run(project, RunCreate("a")))
    write(services, project, "a", points, batches=7)  # batches end inside blocks: partial rows merge
    return project, points


def test_blocks_of_a_batch_hold_what_python_computes_for_every_level() -> None:
    rnd = random.Random(3)
    steps = np.array([rnd.uniform(-500, 5000) for _ in range(3000)])
    values = np.array([value(rnd, i) for i in range(3000)])
    codes = np.array([i % 3 for i in range(3000)], dtype=np.int32)  # interleaved paths, steps out of order
    preview = np.array([i % 50 == 0 for i in range(3000)])
    table = block_rows("p", "r", ["x", "y", "z"], codes, steps, values, preview).to_pylist()
    expected: dict[tuple[str, int, int], list[tuple[float, float]]] = defaultdict(list)
    for code, step, y, is_preview in zip(codes, steps, values, preview, strict=True):
        if not is_preview:
            for level in LEVELS:
                expected["xyz"[code], level, math.ceil(step / 2**level) - 1].append((float(step), float(y)))
    assert len(table) == len(expected)
    for row in table:
        held = sorted(expected[row["path"], row["level"], row["block"]])
        finite = [(x, y) for x, y in held if math.isfinite(y)]
        assert row["finite_count"] == len(finite)
        assert row["nan_count"] == sum(math.isnan(y) for _, y in held)
        assert (row["posinf_count"], row["neginf_count"]) == (sum(y == math.inf for _, y in held),
                                                              sum(y == -math.inf for _, y in held))
        if finite:
            assert (row["first"]["1"], row["first"]["2"]) == finite[0]
            assert (row["last"]["1"], row["last"]["2"]) == finite[-1]
            assert (row["min_value"], row["max_value"]) == (min(y for _, y in finite), max(y for _, y in finite))
            assert row["sum_value"] == pytest.approx(math.fsum(y for _, y in finite))
        else:
            assert row["first"]["1"] == math.inf and row["last"]["1"] == -math.inf  # noqa: PT018


def test_wide_buckets_merge_blocks_exactly(services: Services, project: tuple[str, list[Any]]) -> None:
    project_id, points = project
    # 1000 buckets: 20 steps a bucket, too few for blocks of 16 (32-step buckets would keep 625 of 1000): points
    for n, size, blocks in ((300, 16.0, True), (40, 16.0, True), (4, 256.0, True), (1000, 16.0, False)):
        [result] = services.track.buckets(project_id, [("a", "loss")], BucketQuery(n=n))
        assert (result.from_x, result.to_x) == (1.0, 20_000.0)
        assert 0.75 * n <= len(result.buckets) <= n
        assert aligned(result, size) == blocks
        check(result, points, 1.0, 20_000.0)


def test_a_window_reads_the_points_of_its_edge_blocks(services: Services, project: tuple[str, list[Any]]) -> None:
    project_id, points = project
    [result] = services.track.buckets(project_id, [("a", "loss")], BucketQuery(n=50, window=(1003.5, 15_007.0)))
    assert aligned(result, 16.0)
    check(result, points, 1003.5, 15_007.0)
    [narrow] = services.track.buckets(project_id, [("a", "loss")], BucketQuery(n=2, window=(100.0, 140.0)))
    check(narrow, points, 100.0, 140.0)  # too narrow for blocks: from the points


def test_a_fork_stitches_its_parents_blocks_up_to_the_fork_step(services: Services,
                                                                project: tuple[str, list[Any]]) -> None:
    project_id, points = project
    run(services.track.create_run(project_id, RunCreate("fork", fork=ForkPoint("a", 10_007))))
    own = [(float(i), -float(i)) for i in range(10_008, 30_001)]
    write(services, project_id, "fork", own, batches=3)
    stitched = [(x, y) for x, y in points if x <= 10_007] + own
    [result] = services.track.buckets(project_id, [("fork", "loss")], BucketQuery(n=200))
    assert aligned(result, 16.0)
    check(result, stitched, 1.0, 30_000.0)
    # two forks of one parent in one chart: the parent's blocks serve both, each up to its own fork step
    run(services.track.create_run(project_id, RunCreate("fork-2", fork=ForkPoint("a", 4_000))))
    own_2 = [(float(i), 3.0) for i in range(4_001, 9_001)]
    write(services, project_id, "fork-2", own_2)
    both = services.track.buckets(project_id, [("fork", "loss"), ("fork-2", "loss"), ("a", "loss")],
                                  BucketQuery(n=100))
    check(both[0], stitched, 1.0, 30_000.0)
    check(both[1], [(x, y) for x, y in points if x <= 4_000] + own_2, 1.0, 9_000.0)
    check(both[2], points, 1.0, 20_000.0)
    assert [aligned(result, 16.0) for result in both] == [True, True, True]


def test_series_whose_blocks_may_not_count_every_point_are_read_from_points(services: Services) -> None:
    project_id = services.projects.create("fallback").id
    rnd = random.Random(5)
    points = [(float(i), value(rnd, i)) for i in range(1, 5001)]
    for run_id in ("again", "preview"):
        run(services.track.create_run(project_id, RunCreate(run_id)))
    write(services, project_id, "again", points, batches=2)
    relogged = [(x, 100.0 + y) for x, y in points[1000:1100]]  # steps logged again: the points are replaced
    write(services, project_id, "again", relogged)
    current = dict(points) | dict(relogged)
    [result] = services.track.buckets(project_id, [("again", "loss")], BucketQuery(n=50))
    assert not aligned(result, 16.0)
    check(result, list(current.items()), 1.0, 5000.0)

    write(services, project_id, "preview", points, preview_every=1000)
    [with_previews] = services.track.buckets(project_id, [("preview", "loss")], BucketQuery(n=50))
    assert not aligned(with_previews, 16.0)
    check(with_previews, points, 1.0, 5000.0)
    [without] = services.track.buckets(project_id, [("preview", "loss")], BucketQuery(n=50, include_preview=False))
    check(without, [(x, y) for i, (x, y) in enumerate(points) if i % 1000], 1.0, 5000.0)


def test_the_api_answers_only_the_fields_asked_for(services: Services, project: tuple[str, list[Any]],
                                                   client: Any) -> None:
    project_id, _points = project
    _key, secret = services.keys.create(project_id)
    answer = client.post("/api/track/buckets", headers={"Authorization": f"Bearer {secret}"},
                         json={"series": [{"run_id": "a", "path": "loss"}], "buckets": 100,
                               "fields": ["last_y", "min", "max"]})
    assert answer.status_code == 200, answer.text
    [series] = answer.json()["series"]
    assert set(series["buckets"]) == {"index", "last_y", "min", "max"}
    assert len(series["buckets"]["index"]) == len(series["buckets"]["last_y"]) >= 75
    full = client.post("/api/track/buckets", headers={"Authorization": f"Bearer {secret}"},
                       json={"series": [{"run_id": "a", "path": "loss"}], "buckets": 100}).json()["series"][0]
    assert {name: full["buckets"][name] for name in series["buckets"]} == series["buckets"]  # the same values
    refused = client.post("/api/track/buckets", headers={"Authorization": f"Bearer {secret}"},
                          json={"series": [{"run_id": "a", "path": "loss"}], "fields": ["mean"]})
    assert refused.status_code == 422
    assert "fields" in refused.text
