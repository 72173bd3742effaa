"""Fixtures over real engines: chDB in a session folder (an empty migrated database per test), SQLite files, and a
throwaway PostgreSQL server started for the session (or NEON_TEST_POSTGRES_URL when given)."""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url

from neon_server.app import create_app
from neon_server.runtime import Services
from neon_server.settings import Settings
from neon_server.storage.analytics import AnalyticsDB, open_analytics
from neon_server.storage.analytics.migrations import apply_migrations, bundled_migrations
from neon_server.storage.metadata import MetadataStore, open_metadata


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- chDB: one folder per process
@pytest.fixture(scope="session")
def chdb_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@contextmanager
def database_before(chdb_folder: Path, version: int) -> Iterator[AnalyticsDB]:
    """A fresh analytics database with only the migrations numbered below `version` (to test what a later
    migration does to rows written before it); dropped afterwards."""
    database = f"t_{secrets.token_hex(6)}"
    db = open_analytics(f"chdb://{chdb_folder}?database={database}", migrate=False)
    apply_migrations(db, [m for m in bundled_migrations() if m.version < version])
    try:
        yield db
    finally:
        db.command(f"DROP DATABASE IF EXISTS {database}", tag="tests.drop")
        db.close()


Schema = tuple[tuple[tuple[str, str, str], ...], tuple[tuple[int, str], ...]]


def _schema(db: AnalyticsDB) -> Schema:
    """What a test could change besides rows: the tables and views as created, and the migrations recorded."""
    tables = db.query("SELECT name, engine, create_table_query FROM system.tables WHERE database = {db:String} "
                      "ORDER BY name", tag="tests.schema", params={"db": db.database})
    recorded = db.query("SELECT version, checksum FROM neon_schema_migrations FINAL ORDER BY version",
                        tag="tests.schema")
    return (tuple((r["name"], r["engine"], r["create_table_query"]) for r in tables),
            tuple((r["version"], r["checksum"]) for r in recorded))


class EmptiedDatabases:
    """Databases a test used and left as migrated, emptied for the next test.

    Migrating a new database costs ~40 statements (0.3–1 s); emptying a used one (TRUNCATE of each table)
    costs a few milliseconds. A database comes back only when its schema and recorded migrations are exactly
    those it was migrated to; every table but the migrations' record is then emptied (a freshly migrated
    database has rows in none of them), so the next test gets what the migrations make. A test that changed
    the schema (an extra migration, a dropped table) has its database dropped instead."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.free: list[tuple[str, Schema]] = []

    def open(self) -> tuple[AnalyticsDB, Schema]:
        if self.free:
            database, schema = self.free.pop()
        else:
            database = f"t_{secrets.token_hex(6)}"
            db = open_analytics(f"chdb://{self.folder}?database={database}")
            return db, _schema(db)
        return open_analytics(f"chdb://{self.folder}?database={database}"), schema  # checks the migrations

    def give_back(self, db: AnalyticsDB, schema: Schema) -> None:
        database = db.database
        try:
            reusable = _schema(db) == schema
            if reusable:
                for name, engine, _ in schema[0]:  # TRUNCATE is synchronous: the table is empty when it returns
                    if name != "neon_schema_migrations" and "View" not in engine:
                        db.command(f"TRUNCATE TABLE {name}", tag="tests.empty")
        except Exception:
            reusable = False
        if reusable:
            self.free.append((database, schema))
        else:
            db.command(f"DROP DATABASE IF EXISTS {database}", tag="tests.drop")
        db.close()


@pytest.fixture(scope="session")
def emptied_databases(chdb_folder: Path) -> EmptiedDatabases:
    return EmptiedDatabases(chdb_folder)


@pytest.fixture
def analytics(emptied_databases: EmptiedDatabases) -> Iterator[AnalyticsDB]:
    """A migrated analytics database with no rows, for this test alone."""
    db, schema = emptied_databases.open()
    yield db
    emptied_databases.give_back(db, schema)


# ---------------------------------------------------------------- PostgreSQL: a real throwaway server
def _pg_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found: run `make system-deps`")


def _as_postgres_user(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root; on CI we are root, so run the server as the `postgres` user.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A SQLAlchemy URL (without database) of a PostgreSQL server for this test session."""
    given = os.environ.get("NEON_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    bindir = _pg_bindir()
    folder = Path(tempfile.mkdtemp(prefix="neon-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
    data, port = folder / "data", free_port()
    subprocess.run(_as_postgres_user([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                                      "-E", "UTF8", "--no-sync"]), check=True, capture_output=True)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(_as_postgres_user([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"),
                                      "-w", "-o", options, "start"]), check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_postgres_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       check=False, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's server; dropped after the test."""
    name = f"t_{secrets.token_hex(6)}"
    admin = make_url(postgres_server).set(drivername="postgresql", database="postgres")
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{postgres_server}/{name}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'neon.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture
def metadata(metadata_url: str) -> Iterator[MetadataStore]:
    store = open_metadata(metadata_url)
    yield store
    store.close()


# ---------------------------------------------------------------- the app over real stores
def make_services(home: Path, analytics: AnalyticsDB, metadata: MetadataStore, **settings: object) -> Services:
    """Services over the test's stores; `settings` override Settings fields (e.g. ingest limits). Logged OTLP is
    decoded in the writer's thread unless a test asks for decode workers (spawning them costs about a second);
    the spawned servers of tests/e2e run the default workers."""
    settings = {"ingest_decode_processes": 0, **settings}
    config = Settings(home=home, analytics_url="chdb://unused", metadata_url="sqlite:///unused", **settings)
    return Services(settings=config, analytics=analytics, metadata=metadata)


@pytest.fixture
def services(tmp_path: Path, analytics: AnalyticsDB, metadata: MetadataStore) -> Iterator[Services]:
    made = make_services(tmp_path, analytics, metadata)
    yield made
    made.stop_scoring()
    made.stop_writers()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as test_client:
        yield test_client


# ---------------------------------------------------------------- a real HTTP server in this process
class LiveServer:
    def __init__(self, services: Services) -> None:
        import threading

        import uvicorn

        self.services = services
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(services), host="127.0.0.1", port=self.port, log_config=None,
                                lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def settle(self) -> None:
        """Wait until the spans of every OTLP export answered so far are in the store (protobuf exports are
        answered once logged, and written in bulk just after)."""
        assert self.services.writer.settle(30), "answered exports not written within 30 s"


@pytest.fixture
def project_key(services: Services) -> tuple[str, str]:
    """(project id, API key) of a fresh project."""
    project = services.projects.create(f"p-{secrets.token_hex(4)}")
    _key, secret = services.keys.create(project.id)
    return project.id, secret


@pytest.fixture
def live_server(services: Services) -> Iterator[LiveServer]:
    with LiveServer(services) as server:
        yield server
    services.stop_writers()
