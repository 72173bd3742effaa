"""Server backend: a ClickHouse server or cluster over HTTP(S), through clickhouse-connect.

Runs exactly the SQL and migrations of the chDB backend; the query tag also goes in `log_comment`, so it
shows in the server's `system.query_log`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pyarrow as pa

from neon_server.storage.analytics.executor import Params, check_identifier, tagged


@dataclass(frozen=True)
class ClickHouseTarget:
    host: str
    port: int
    username: str
    password: str
    database: str
    secure: bool


def parse_clickhouse_url(url: str) -> ClickHouseTarget:
    """`clickhouse[s]://user:password@host:port/database` → connection arguments (HTTP interface)."""
    parts = urlsplit(url)
    if parts.scheme not in ("clickhouse", "clickhouses"):
        raise ValueError(f"not a ClickHouse URL: {url!r}")
    if not parts.hostname:
        raise ValueError(f"ClickHouse URL {url!r} has no host")
    secure = parts.scheme == "clickhouses" or parse_qs(parts.query).get("secure", ["false"])[0] == "true"
    database = unquote(parts.path.lstrip("/")) or "neon"
    return ClickHouseTarget(
        host=parts.hostname,
        port=parts.port or (8443 if secure else 8123),
        username=unquote(parts.username or "default"),
        password=unquote(parts.password or ""),
        database=check_identifier(database),
        secure=secure,
    )


class ClickHouseBackend:
    kind = "clickhouse"

    def __init__(self, target: ClickHouseTarget) -> None:
        import clickhouse_connect

        self.database = target.database
        common: dict[str, Any] = {
            "host": target.host, "port": target.port, "username": target.username,
            "password": target.password, "secure": target.secure,
            # Sessions serialise queries; we run many in parallel from a thread pool.
            "autogenerate_session_id": False,
        }
        admin = clickhouse_connect.get_client(**common, database="default")
        try:
            admin.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        finally:
            admin.close()
        self._client = clickhouse_connect.get_client(**common, database=self.database)

    def command(self, sql: str, params: Params, tag: str) -> None:
        self._client.command(tagged(sql, tag), parameters=dict(params) or None,
                             settings={"log_comment": tag})

    def query_arrow(self, sql: str, params: Params, tag: str) -> pa.Table:
        table: pa.Table = self._client.query_arrow(tagged(sql, tag), parameters=dict(params) or None,
                                                   settings={"log_comment": tag})
        return table

    def insert_arrow(self, table: str, data: pa.Table, tag: str, settings: dict[str, int] | None = None) -> None:
        self._client.insert_arrow(check_identifier(table), data, settings={"log_comment": tag, **(settings or {})})

    def close(self) -> None:
        self._client.close()
