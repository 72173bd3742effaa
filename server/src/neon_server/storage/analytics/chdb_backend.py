"""Embedded backend: chDB (ClickHouse in-process), the default for one-machine installs.

chDB lets one process own a data folder, and one folder per process. We take an advisory lock of our own
before chDB does, so that a second `neon up` on the same folder fails at once with a message that says
who owns it, instead of chDB's bare "Cannot lock file". Connections are one per thread: chDB calls are
synchronous and run in parallel from several threads, faster with a connection each.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa

from neon_server.storage.analytics.executor import (
    AnalyticsError,
    DataFolderLocked,
    Params,
    check_identifier,
    tagged,
)

LOCK_FILENAME = "neon-server.lock"


class FolderLock:
    """An exclusive, non-blocking flock on a file in the data folder, holding the owner's pid."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILENAME
        self._file: TextIO | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            owner = f.read().strip() or "unknown"
            f.close()
            raise DataFolderLocked(locked_message(self.path.parent, owner)) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


# chDB itself is process-wide (one folder per process), so our lock is too: backends on the same folder
# in one process (one database each, as tests use) share it, and the last to close releases it.
_held: dict[Path, tuple[FolderLock, int]] = {}
_held_guard = threading.Lock()


def _acquire_folder(folder: Path) -> None:
    with _held_guard:
        lock, count = _held.get(folder) or (FolderLock(folder), 0)
        if count == 0:
            lock.acquire()
        _held[folder] = (lock, count + 1)


def _release_folder(folder: Path) -> None:
    with _held_guard:
        lock, count = _held[folder]
        if count == 1:
            lock.release()
            del _held[folder]
        else:
            _held[folder] = (lock, count - 1)


def locked_message(folder: Path, owner: str) -> str:
    return (
        f"the analytics data folder {folder} is in use by another process (pid {owner}). "
        "chDB lets only one process open a data folder: a Neon server is probably running already. "
        "Stop it, or set NEON_HOME / NEON_ANALYTICS_URL to another folder. "
        "Tools outside the server (CLI, SDK, workers) send data through its HTTP API."
    )


class ChdbBackend:
    """chDB at `path`, all statements run in `database` (created if missing)."""

    kind = "chdb"

    def __init__(self, path: Path, database: str = "neon") -> None:
        import chdb  # imported here: the server may run on ClickHouse without ever loading chDB

        self.path = path.expanduser().resolve()
        self.database = check_identifier(database)
        self._chdb: Any = chdb
        _acquire_folder(self.path)
        self._local = threading.local()
        self._connections: list[Any] = []
        self._guard = threading.Lock()
        self._closed = False
        try:
            root = self._open(str(self.path))
            root.query(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            self._root = root
        except BaseException:
            _release_folder(self.path)
            raise

    def _open(self, connection_string: str) -> Any:
        try:
            conn = self._chdb.connect(connection_string)
        except RuntimeError as exc:
            text = str(exc)
            if "Cannot lock file" in text or "CANNOT_OPEN_FILE" in text:
                raise DataFolderLocked(locked_message(self.path, "unknown")) from exc
            if "already initialized with path" in text:
                raise AnalyticsError(
                    f"this process already opened another chDB folder; chDB allows one folder per process "
                    f"(wanted {self.path}): {text.splitlines()[0]}"
                ) from exc
            raise
        with self._guard:
            self._connections.append(conn)
        return conn

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise AnalyticsError("the analytics store is closed")
            conn = self._open(f"{self.path}?database={self.database}")
            self._local.conn = conn
        return conn

    def command(self, sql: str, params: Params, tag: str) -> None:
        self._conn().query(tagged(sql, tag), "Null", **_params(params))

    def query_arrow(self, sql: str, params: Params, tag: str) -> pa.Table:
        conn = self._conn()
        try:
            table: pa.Table = conn.query(tagged(sql, tag), "ArrowTable", **_params(params))
        except Exception:
            # An error raised while rows stream leaves chDB's Arrow output half written, and the connection's
            # next Arrow query fails on it; a statement in another format resets it.
            with contextlib.suppress(Exception):
                conn.query("SELECT 1", "Null")
            raise
        return table

    def insert_arrow(self, table: str, data: pa.Table, tag: str, settings: dict[str, int] | None = None) -> None:
        columns = ", ".join(data.column_names)
        neon_batch = data  # chDB's Python() table function reads this local variable by name
        given = ", ".join(f"{check_identifier(k)} = {int(v)}" for k, v in (settings or {}).items())
        sql = (f"INSERT INTO {check_identifier(table)} ({columns}){f' SETTINGS {given}' if given else ''} "
               f"SELECT {columns} FROM Python(neon_batch)")
        self._conn().query(tagged(sql, tag))
        del neon_batch

    def close(self) -> None:
        with self._guard:
            if self._closed:
                return
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in reversed(connections):
            with contextlib.suppress(Exception):  # best effort: releasing the folder below matters more
                conn.close()
        _release_folder(self.path)


def _params(params: Params) -> dict[str, Any]:
    # chDB passes values as text in ClickHouse's parameter format: scalars in its escaped form (a raw newline ends
    # the value, and a backslash starts an escape), arrays in their quoted literal form.
    if not params:
        return {}
    return {"params": {k: _literal(v) if isinstance(v, list | tuple) else _escaped(v) if isinstance(v, str) else v
                       for k, v in params.items()}}


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _escaped(value: str) -> str:
    """A scalar string parameter in ClickHouse's escaped text format, so that it arrives exactly as given."""
    return value.translate(_ESCAPES)


def _literal(value: Any) -> str:
    """A parameter value in ClickHouse's quoted text format (used inside arrays)."""
    if isinstance(value, list | tuple):
        return "[" + ",".join(_literal(v) for v in value) + "]"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None:
        return "NULL"
    return str(value)
