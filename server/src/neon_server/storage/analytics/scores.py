"""Score writes (reads and filters come with the query API)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from neon_server.storage.analytics.executor import AnalyticsDB

SCORE_SCHEMA = pa.schema([
    ("project_id", pa.string()), ("score_id", pa.string()), ("trace_id", pa.string()), ("span_id", pa.string()),
    ("name", pa.string()), ("value", pa.float64()), ("string_value", pa.string()), ("data_type", pa.string()),
    ("source", pa.string()), ("scorer", pa.string()), ("reason", pa.string()), ("evidence", pa.string()),
    ("eval_run_id", pa.string()), ("dataset_item_id", pa.string()),
    ("metadata", pa.map_(pa.string(), pa.string())),
])


class ScoreStore:
    def __init__(self, db: AnalyticsDB) -> None:
        self._db = db

    def find(self, project_id: str, *, exact: dict[str, str], source: str | None, limit: int,
             before: tuple[str, str] | None) -> list[dict[str, Any]]:
        return list_scores(self._db, project_id, exact=exact, source=source, limit=limit, before=before)

    def insert(self, rows: list[dict[str, Any]]) -> None:
        columns = {name: [row[name] for row in rows] for name in SCORE_SCHEMA.names}
        columns["metadata"] = [list(m.items()) for m in columns["metadata"]]
        self._db.insert_arrow("scores", pa.table(columns, schema=SCORE_SCHEMA), tag="scores.insert")


SCORE_FILTERS = ("trace_id", "span_id", "name", "eval_run_id", "dataset_item_id", "scorer")
DATA_TYPES = {1: "numeric", 2: "categorical", 3: "boolean"}
SOURCES = {1: "api", 2: "sdk", 3: "annotation", 4: "eval", 5: "online"}


def list_scores(db: AnalyticsDB, project_id: str, *, exact: dict[str, str], source: str | None, limit: int,
                before: tuple[str, str] | None) -> list[dict[str, Any]]:
    """Newest first; `before` = (created_at, score_id) of the previous page's last row."""
    params: dict[str, Any] = {"p": project_id, "limit": limit}
    where = ["project_id = {p:String}"]
    for i, (name, value) in enumerate(sorted(exact.items())):
        where.append(f"{name} = {{f{i}:String}}")
        params[f"f{i}"] = value
    if source is not None:
        where.append("toString(source) = {source:String}")
        params["source"] = source
    if before is not None:
        where.append("(created_at, score_id) < ({before_at:DateTime64(3, 'UTC')}, {before_id:String})")
        params["before_at"], params["before_id"] = before
    rows = db.query(
        "SELECT score_id, trace_id, span_id, name, value, string_value, toInt8(data_type) AS data_type_code, "
        "toInt8(source) AS source_code, scorer, reason, evidence, eval_run_id, dataset_item_id, metadata, created_at "
        f"FROM scores FINAL WHERE {' AND '.join(where)} ORDER BY created_at DESC, score_id DESC "
        "LIMIT {limit:UInt32}", tag="scores.list", params=params)
    for row in rows:
        # (aliases must not reuse column names: ClickHouse would substitute them into WHERE)
        row["data_type"] = DATA_TYPES.get(int(row.pop("data_type_code")), "numeric")
        row["source"] = SOURCES.get(int(row.pop("source_code")), "api")
        row["metadata"] = dict(row["metadata"])
        if row["data_type"] == "categorical":
            row["value"] = row.pop("string_value")
        else:
            row.pop("string_value")
            if row["data_type"] == "boolean":
                row["value"] = bool(row["value"])
    return rows
