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

    def insert(self, rows: list[dict[str, Any]]) -> None:
        columns = {name: [row[name] for row in rows] for name in SCORE_SCHEMA.names}
        columns["metadata"] = [list(m.items()) for m in columns["metadata"]]
        self._db.insert_arrow("scores", pa.table(columns, schema=SCORE_SCHEMA), tag="scores.insert")
