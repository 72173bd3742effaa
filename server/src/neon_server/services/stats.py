"""Analytics for dashboards: one call returns the series and breakdowns for a time range."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
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
        # The overview's queries are independent; chDB runs queries from several threads in parallel.
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="neon-stats")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def overview(self, project_id: str, start: datetime, end: datetime, bucket: str | None) -> dict[str, Any]:
        if end <= start:
            raise InvalidInput("the time range is empty: 'from' must be before 'to'")
        chosen = bucket or choose_bucket(start, end)
        if (end - start).total_seconds() / BUCKET_SECONDS[chosen] > MAX_BUCKETS:
            raise InvalidInput(f"bucket {chosen} gives more than {MAX_BUCKETS} points for this range; "
                               "choose a larger bucket")
        hourly = BUCKET_SECONDS[chosen] >= 3600  # hour-aligned buckets: read the hourly rollup
        store = self._store
        series_f = self._pool.submit(store.series, project_id, start, end, chosen)
        latency_f = self._pool.submit(store.latency_series, project_id, start, end, chosen)
        by_f = {dim: self._pool.submit(partial(store.latency_by, project_id, start, end, dim, hourly=hourly))
                for dim in ("span_type", "model", "tool")}
        usage_f = self._pool.submit(store.usage_by_model, project_id, start, end, chosen)
        scores_f = self._pool.submit(store.scores, project_id, start, end, chosen)
        series = series_f.result()
        for row in series:
            row["error_rate"] = row["errors"] / row["spans"] if row["spans"] else 0.0
        latency = [{"bucket": r["bucket"], "p50_ms": r["q"][0], "p95_ms": r["q"][1], "p99_ms": r["q"][2]}
                   for r in latency_f.result()]
        breakdowns = {
            dim: [{"key": r["key"], "calls": r["calls"], "errors": r["errors"], "p50_ms": r["q"][0],
                   "p95_ms": r["q"][1], "p99_ms": r["q"][2]} for r in future.result()]
            for dim, future in by_f.items()
        }
        return {"from": start, "to": end, "bucket": chosen, "series": series, "trace_latency": latency,
                "latency_by": breakdowns, "usage_by_model": usage_f.result(), "scores": scores_f.result()}
