"""Analytics store: spans, traces, scores and rollups in ClickHouse (chDB embedded, or a server)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from neon_server.storage.analytics.executor import AnalyticsDB, AnalyticsError, DataFolderLocked
from neon_server.storage.analytics.migrations import apply_migrations

__all__ = ["AnalyticsDB", "AnalyticsError", "DataFolderLocked", "apply_migrations", "open_analytics"]


def open_analytics(url: str, *, migrate: bool = True) -> AnalyticsDB:
    """Open the store the URL names and bring its schema up to date.

    - `chdb://PATH[?database=NAME]`: embedded chDB at PATH (this process becomes its only owner)
    - `clickhouse://USER:PASSWORD@HOST:PORT/DATABASE`, `clickhouses://…`: a ClickHouse server over HTTP(S)
    """
    scheme = urlsplit(url).scheme
    if scheme == "chdb":
        from neon_server.storage.analytics.chdb_backend import ChdbBackend

        rest = url[len("chdb://"):]
        path, _, query = rest.partition("?")
        if not path:
            raise ValueError("chdb:// URL needs a folder path, e.g. chdb:///var/lib/neon/chdb")
        database = parse_qs(query).get("database", ["neon"])[0]
        db = AnalyticsDB(ChdbBackend(Path(unquote(path)), database))
    elif scheme in ("clickhouse", "clickhouses"):
        from neon_server.storage.analytics.clickhouse_backend import ClickHouseBackend, parse_clickhouse_url

        db = AnalyticsDB(ClickHouseBackend(parse_clickhouse_url(url)))
    else:
        raise ValueError(f"unsupported analytics URL scheme {scheme!r}: use chdb://, clickhouse:// or clickhouses://")
    if migrate:
        try:
            apply_migrations(db)
        except BaseException:
            db.close()
            raise
    return db
