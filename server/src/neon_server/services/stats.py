"""Analytics for dashboards: one call returns the series and breakdowns for a time range."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from neon_server.services.errors import InvalidInput
from neon_server.storage.analytics.stats import BUCKET_SECONDS, StatsStore

MAX_BUCKETS = 2000


def choose_bucket(start: datetime, end: datetime) -> str:
    """The finest bucket giving at most ~200 points."""
    seconds = (end - start).total_seconds()
    for name, size in sorted(BUCKET_SECONDS.items(), key=lambda kv: kv[1]):
        if seconds / size <= 200:
            return name
    return "1d"


class StatsService:
    def __init__(self, store: StatsStore) -> None:
        self._store = store

    def overview(self, project_id: str, start: datetime, end: datetime, bucket: str | None) -> dict[str, Any]:
        if end <= start:
            raise InvalidInput("the time range is empty: 'from' must be before 'to'")
        chosen = bucket or choose_bucket(start, end)
        if (end - start).total_seconds() / BUCKET_SECONDS[chosen] > MAX_BUCKETS:
            raise InvalidInput(f"bucket {chosen} gives more than {MAX_BUCKETS} points for this range; "
                               "choose a larger bucket")
        series = self._store.series(project_id, start, end, chosen)
        for row in series:
            row["error_rate"] = row["errors"] / row["spans"] if row["spans"] else 0.0
        latency = [{"bucket": r["bucket"], "p50_ms": r["q"][0], "p95_ms": r["q"][1], "p99_ms": r["q"][2]}
                   for r in self._store.latency_series(project_id, start, end, chosen)]
        hourly = BUCKET_SECONDS[chosen] >= 3600  # hour-aligned buckets: read the hourly latency rollup
        breakdowns = {
            dim: [{"key": r["key"], "calls": r["calls"], "errors": r["errors"], "p50_ms": r["q"][0],
                   "p95_ms": r["q"][1], "p99_ms": r["q"][2]}
                  for r in self._store.latency_by(project_id, start, end, dim, hourly=hourly)]
            for dim in ("span_type", "model", "tool")
        }
        return {"from": start, "to": end, "bucket": chosen, "series": series, "trace_latency": latency,
                "latency_by": breakdowns, "usage_by_model": self._store.usage_by_model(project_id, start, end, chosen),
                "scores": self._store.scores(project_id, start, end, chosen)}
