"""Block levels four times apart (4, 6, 8, 10, 12): the grid a chart is cut on, and the levels 6 and 10 that
migration 0008 derives from level 4 for blocks written before the writer kept them."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from neon_server.storage.analytics.executor import AnalyticsDB
from neon_server.storage.analytics.migrations import apply_migrations, bundled_migrations
from neon_server.storage.analytics.track_blocks import MIN_SHARE, grid_for
from neon_server.track.blocks import LEVELS, block_rows
from server.tests.conftest import database_before


def test_a_grid_keeps_three_quarters_of_the_buckets_on_blocks_a_few_times_smaller() -> None:
    rnd = random.Random(7)
    for _ in range(3000):
        lo = rnd.choice([0.0, 1.0, rnd.uniform(-1e4, 1e6)])
        hi = lo + rnd.choice([rnd.uniform(1, 1e3), rnd.uniform(1e3, 1e5), rnd.uniform(1e5, 5e7)])
        n = rnd.choice([1, 4, 50, 300, 1000, rnd.randint(1, 1000)])
        grid = grid_for(lo, hi, n)
        if grid is None:  # not even the smallest blocks fit n buckets: the points are read
            assert (hi - lo) / 2 ** LEVELS[0] < 4 * n
            continue
        assert MIN_SHARE * n <= grid.count <= n
        assert grid.lo <= lo  # the grid covers the range
        assert grid.lo + grid.count * grid.width >= hi
        assert grid.lo % grid.block == 0  # on whole blocks
        assert grid.width % grid.block == 0
        blocks_a_bucket = grid.width / grid.block
        # the largest blocks that fit: a dozen or so a bucket at most, unless the smallest or largest level
        if LEVELS[0] < grid.level < LEVELS[-1]:
            assert blocks_a_bucket <= 13, (lo, hi, n, grid)


def test_a_hundred_thousand_steps_in_a_thousand_buckets_read_two_blocks_of_64_a_bucket() -> None:
    grid = grid_for(0.0, 99_999.0, 1000)
    assert grid is not None
    assert (grid.level, grid.width, grid.count) == (6, 128.0, 782)
    one_million = grid_for(1.0, 1_000_000.0, 1000)
    assert one_million is not None
    assert (one_million.level, one_million.width, one_million.count) == (10, 1024.0, 977)  # a block a bucket


@pytest.fixture
def before_levels(chdb_folder: Path) -> Iterator[AnalyticsDB]:
    """A database with the migrations before 0008 only."""
    with database_before(chdb_folder, 8) as db:
        yield db


def merged_levels(db: AnalyticsDB, levels: tuple[int, ...]) -> list[dict[str, Any]]:
    return db.query(
        "SELECT path, level, block, min(first) AS first, max(last) AS last, min(min_value) AS min_value, "
        "max(max_value) AS max_value, sum(sum_value) AS sum_value, sum(finite_count) AS finite_count, "
        "sum(nan_count) AS nan_count, sum(posinf_count) AS posinf_count, sum(neginf_count) AS neginf_count "
        "FROM track_float_blocks WHERE level IN {levels:Array(UInt8)} GROUP BY path, level, block "
        "ORDER BY path, level, block", tag="tests.blocks", params={"levels": list(levels)})


def expected_levels(batches: list[pa.Table], levels: tuple[int, ...]) -> list[dict[str, Any]]:
    """The same rows merged in Python: what the writer would have kept at these levels."""
    merged: dict[tuple[str, int, int], dict[str, Any]] = {}
    for table in batches:
        for row in table.filter(pc.is_in(table["level"], pa.array(levels, pa.uint8()))).to_pylist():
            key = (row["path"], row["level"], row["block"])
            first, last = (row["first"]["1"], row["first"]["2"]), (row["last"]["1"], row["last"]["2"])
            if key not in merged:
                merged[key] = {**row, "first": first, "last": last}
                continue
            held = merged[key]
            held["first"], held["last"] = min(held["first"], first), max(held["last"], last)
            held["min_value"], held["max_value"] = min(held["min_value"], row["min_value"]), max(
                held["max_value"], row["max_value"])
            for name in ("sum_value", "finite_count", "nan_count", "posinf_count", "neginf_count"):
                held[name] += row[name]
    return [merged[key] for key in sorted(merged)]


def same_rows(found: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [(r["path"], r["level"], r["block"]) for r in found] == [
        (r["path"], r["level"], r["block"]) for r in expected]
    for got, want in zip(found, expected, strict=True):
        assert (got["first"]["1"], got["last"]["1"]) == (want["first"][0], want["last"][0])
        assert (got["finite_count"], got["nan_count"], got["posinf_count"], got["neginf_count"]) == (
            want["finite_count"], want["nan_count"], want["posinf_count"], want["neginf_count"])
        assert (got["min_value"], got["max_value"]) == (want["min_value"], want["max_value"])
        assert got["sum_value"] == pytest.approx(want["sum_value"], rel=1e-12, abs=1e-9)


def test_the_migration_derives_levels_6_and_10_from_level_4_exactly(before_levels: AnalyticsDB) -> None:
    rnd = random.Random(13)
    batches = []
    for start in (0, 1500):  # two batches of one run, the second ending inside blocks: partial rows
        steps = np.array([float(s) for s in range(start - 700, start + 1500)]) if start else np.array(
            [rnd.uniform(-900, 1500) for _ in range(1500)])
        values = np.array([math.nan if i % 41 == 0 else math.inf if i % 97 == 0 else rnd.gauss(0, 1)
                           for i in range(len(steps))])
        codes = np.array([i % 2 for i in range(len(steps))], dtype=np.int32)
        table = block_rows("p", "r", ["x", "y"], codes, steps, values, np.zeros(len(steps), dtype=bool))
        assert table is not None
        batches.append(table)
        # what the writer kept before this migration: levels 4, 8 and 12
        before_levels.insert_arrow("track_float_blocks", table.filter(
            pc.is_in(table["level"], pa.array([4, 8, 12], pa.uint8()))), tag="tests.blocks")
    assert merged_levels(before_levels, (6, 10)) == []
    assert apply_migrations(before_levels)[0] == 8  # and any later migrations
    same_rows(merged_levels(before_levels, (6, 10)), expected_levels(batches, (6, 10)))
    same_rows(merged_levels(before_levels, (4, 8, 12)), expected_levels(batches, (4, 8, 12)))

    # run again, as after an interruption before it was recorded: nothing is counted twice
    [migration] = [m for m in bundled_migrations() if m.version == 8]
    for statement in migration.statements():
        before_levels.command(statement, tag="tests.migrate_again")
    same_rows(merged_levels(before_levels, (6, 10)), expected_levels(batches, (6, 10)))
