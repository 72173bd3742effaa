"""Numbered SQL migrations (`migrations/NNNN_name.sql`), the same files for chDB and ClickHouse server.

Each file is a list of statements separated by `;` at the end of a line. Statements are written to be
idempotent (`IF NOT EXISTS`), so a migration interrupted halfway is simply run again. Applied migrations are
recorded with a checksum in `neon_schema_migrations`; editing an applied file is refused, add a new one.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

from neon_server.storage.analytics.executor import AnalyticsDB, AnalyticsError

log = logging.getLogger("neon.analytics.migrations")

MIGRATIONS_TABLE = "neon_schema_migrations"
FILENAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        without_comments = "\n".join(
            line for line in self.sql.splitlines() if not line.lstrip().startswith("--")
        )
        return [s.strip() for s in re.split(r";\s*(?:\n|$)", without_comments) if s.strip()]


def bundled_migrations() -> list[Migration]:
    folder = resources.files("neon_server.storage.analytics") / "migrations"
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = FILENAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise AnalyticsError(f"two analytics migrations share a number: {versions}")
    return found


def applied_migrations(db: AnalyticsDB) -> dict[int, str]:
    """version → checksum of what this database has applied."""
    db.command(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
        " version UInt32, name String, checksum String,"
        " applied_at DateTime64(3, 'UTC') DEFAULT now64(3)"
        ") ENGINE = ReplacingMergeTree ORDER BY version",
        tag="migrations.ensure_table",
    )
    rows = db.query(f"SELECT version, checksum FROM {MIGRATIONS_TABLE} FINAL", tag="migrations.applied")
    return {int(r["version"]): str(r["checksum"]) for r in rows}


def apply_migrations(db: AnalyticsDB, migrations: list[Migration] | None = None) -> list[int]:
    """Apply what is not applied yet, in order; returns the versions applied now."""
    done = applied_migrations(db)
    applied_now: list[int] = []
    for migration in migrations if migrations is not None else bundled_migrations():
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                raise AnalyticsError(
                    f"analytics migration {migration.version:04d}_{migration.name}.sql changed after it was "
                    "applied; migrations are append-only: revert the edit and add a new numbered file"
                )
            continue
        for index, statement in enumerate(migration.statements()):
            try:
                db.command(statement, tag=f"migrations.{migration.version:04d}")
            except AnalyticsError as exc:
                raise AnalyticsError(
                    f"analytics migration {migration.version:04d}_{migration.name}.sql, "
                    f"statement {index + 1} failed: {exc}"
                ) from exc
        db.command(
            f"INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum) "
            "VALUES ({version:UInt32}, {name:String}, {checksum:String})",
            tag="migrations.record",
            params={"version": migration.version, "name": migration.name, "checksum": migration.checksum},
        )
        log.info("applied analytics migration", extra={"fields": {"version": migration.version,
                                                                   "name": migration.name}})
        applied_now.append(migration.version)
    return applied_now
