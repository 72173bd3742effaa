"""The by-path copies and the path catalogue (migration 0006): what was stored before the migration is copied,
what is written after is kept by the views, and both read the same as the source tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from neon_server.storage.analytics import AnalyticsDB, apply_migrations
from neon_server.storage.analytics.migrations import bundled_migrations
from neon_server.storage.analytics.track import TrackStore
from neon_server.track.columns import attribute_table
from server.tests.conftest import database_before


@pytest.fixture
def bare(chdb_folder: Path) -> Iterator[AnalyticsDB]:
    """A database with the migrations before 0006 only."""
    with database_before(chdb_folder, 6) as db:
        yield db


def write(store: TrackStore, run_id: str, value: float, version: int) -> None:
    rows = attribute_table("p", run_id, [{"path": "config/lr", "type": "float", "float_value": value,
                                          "updated_at": 0},
                                         {"path": "config/name", "type": "string", "string_value": run_id,
                                          "updated_at": 0}])
    store.insert("track_attributes", rows.append_column("version", pa.array([version, version], pa.uint64())))


def by_path(db: AnalyticsDB) -> list[tuple[str, str, float]]:
    rows = db.query("SELECT run_id, path, float_value FROM track_attributes_by_path FINAL "
                    "WHERE project_id = 'p' ORDER BY path, run_id", tag="tests.by_path")
    return [(r["run_id"], r["path"], r["float_value"]) for r in rows]


def catalogue(db: AnalyticsDB) -> dict[tuple[str, str], int]:
    rows = db.query("SELECT path, toString(type) AS type, uniqCombinedMerge(15)(runs) AS n FROM track_paths "
                    "WHERE project_id = 'p' GROUP BY path, type", tag="tests.catalogue")
    return {(r["path"], r["type"]): r["n"] for r in rows}


def test_rows_before_the_migration_are_copied_and_later_writes_kept(bare: AnalyticsDB) -> None:
    store = TrackStore(bare)
    write(store, "a", 0.1, 1)
    write(store, "a", 0.2, 2)  # assigned again: the newer value wins
    write(store, "b", 0.3, 1)
    assert apply_migrations(bare) == [m.version for m in bundled_migrations() if m.version >= 6]
    assert by_path(bare) == [("a", "config/lr", 0.2), ("b", "config/lr", 0.3), ("a", "config/name", 0.0),
                             ("b", "config/name", 0.0)]
    assert catalogue(bare) == {("config/lr", "float"): 2, ("config/name", "string"): 2}
    write(store, "c", 0.4, 3)
    write(store, "a", 0.5, 3)
    assert by_path(bare) == [("a", "config/lr", 0.5), ("b", "config/lr", 0.3), ("c", "config/lr", 0.4),
                             ("a", "config/name", 0.0), ("b", "config/name", 0.0), ("c", "config/name", 0.0)]
    assert catalogue(bare) == {("config/lr", "float"): 3, ("config/name", "string"): 3}
