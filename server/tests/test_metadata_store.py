"""The metadata store on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from neon_server.storage.metadata import AlreadyExists, MetadataStore, open_metadata
from neon_server.storage.metadata.engine import ALEMBIC_DIR


def head_revision() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def test_migrations_reach_head_and_rerun_cleanly(metadata: MetadataStore, metadata_url: str) -> None:
    names = set(inspect(metadata.engine).get_table_names())
    assert {"projects", "api_keys", "alembic_version"} <= names
    with metadata.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
    open_metadata(metadata_url).close()  # a second start finds nothing to do


def test_projects(metadata: MetadataStore) -> None:
    created = metadata.projects.create("prj_1", "alpha")
    assert created.created_at.tzinfo is not None
    assert metadata.projects.get("prj_1") == created
    assert metadata.projects.get_by_name("alpha") == created
    assert metadata.projects.get("nope") is None
    with pytest.raises(AlreadyExists, match="'alpha' already exists"):
        metadata.projects.create("prj_2", "alpha")
    metadata.projects.create("prj_3", "beta")
    assert [p.name for p in metadata.projects.list()] == ["alpha", "beta"]


def test_keys_are_scoped_revocable_and_touchable(metadata: MetadataStore) -> None:
    metadata.projects.create("prj_a", "a")
    metadata.projects.create("prj_b", "b")
    key = metadata.api_keys.create(key_id="key_1", project_id="prj_a", name="ci", prefix="neon_sk_1",
                                   secret_hash="h" * 64)
    assert key.active
    assert key.last_used_at is None
    found = metadata.api_keys.find_by_prefix("neon_sk_1")
    assert found == (key, "h" * 64)
    assert metadata.api_keys.list("prj_b") == []
    assert metadata.api_keys.get("prj_b", "key_1") is None
    assert metadata.api_keys.revoke("prj_b", "key_1", datetime.now(UTC)) is None  # other project: untouched

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    metadata.api_keys.touch("key_1", when)
    assert metadata.api_keys.list("prj_a")[0].last_used_at == when
    revoked = metadata.api_keys.revoke("prj_a", "key_1", when)
    assert revoked is not None
    assert revoked.revoked_at == when
    assert not revoked.active
    later = metadata.api_keys.revoke("prj_a", "key_1", datetime.now(UTC))
    assert later is not None
    assert later.revoked_at == when
    assert metadata.api_keys.list("prj_a", include_revoked=False) == []
    with pytest.raises(AlreadyExists):
        metadata.api_keys.create(key_id="key_2", project_id="prj_a", name="", prefix="neon_sk_1",
                                 secret_hash="x" * 64)


def test_deleting_a_project_deletes_its_keys(metadata: MetadataStore) -> None:
    metadata.projects.create("prj_a", "a")
    metadata.api_keys.create(key_id="key_1", project_id="prj_a", name="", prefix="neon_sk_1", secret_hash="h")
    with metadata.engine.begin() as conn:
        conn.execute(text("DELETE FROM projects WHERE id = 'prj_a'"))
    assert metadata.api_keys.find_by_prefix("neon_sk_1") is None


def test_health(metadata: MetadataStore) -> None:
    report = metadata.health()
    assert report["status"] == "ok"
    assert report["backend"] in ("sqlite", "postgresql")
