"""Analytics over a time range: series per bucket, latency percentiles, usage by model, score trends.

Day buckets read the daily rollups (`daily_stats`, `model_usage_daily`); other hour-aligned buckets read
`latency_hourly` (sums and t-digest states per hour; the range is taken in whole hours); finer buckets read
spans.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from neon_server.storage.analytics.executor import AnalyticsDB

BUCKET_SECONDS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "6h": 21_600, "1d": 86_400}
# Span columns are qualified (s.cost, …): ClickHouse substitutes a SELECT alias such as `sum(cost) AS cost`
# into every other use of the bare name, aggregates included.
RANGE = ("s.project_id = {p:String} AND s.start_time >= {start:DateTime64(9, 'UTC')} "
         "AND s.start_time < {end:DateTime64(9, 'UTC')}")
BREAKDOWNS = {"span_type": "toString(s.span_type)", "model": "toString(s.model)", "tool": "toString(s.tool_name)"}
BUCKET = "toStartOfInterval(s.start_time, toIntervalSecond({bucket:UInt32}), 'UTC')"
HOURLY = ("project_id = {p:String} AND hour >= toStartOfHour(toDateTime({start:DateTime64(9, 'UTC')}, 'UTC')) "
          "AND hour < {end:DateTime64(9, 'UTC')}")
HOURLY_BREAKDOWNS = {"span_type": "toString(span_type)", "model": "toString(model)", "tool": "toString(tool_name)"}


class StatsStore:
    def __init__(self, db: AnalyticsDB) -> None:
        self._db = db

    def _params(self, project_id: str, start: datetime, end: datetime, bucket: str) -> dict[str, Any]:
        return {"p": project_id, "start": _ts(start), "end": _ts(end), "bucket": BUCKET_SECONDS[bucket]}

    def series(self, project_id: str, start: datetime, end: datetime, bucket: str) -> list[dict[str, Any]]:
        params = self._params(project_id, start, end, bucket)
        if bucket == "1d":
            return self._db.query(
                "SELECT toDateTime(day, 'UTC') AS bucket, sum(root_span_count) AS traces, sum(span_count) AS spans, "
                "sum(error_count) AS errors, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, "
                "sum(total_tokens) AS total_tokens, sum(cost) AS cost FROM daily_stats "
                "WHERE project_id = {p:String} AND day >= toDate({start:DateTime64(9, 'UTC')}) "
                "AND day < toDate({end:DateTime64(9, 'UTC')}) + 1 GROUP BY day ORDER BY day",
                tag="stats.series_daily", params=params)
        if BUCKET_SECONDS[bucket] >= 3600:
            return self._db.query(
                "SELECT toStartOfInterval(hour, toIntervalSecond({bucket:UInt32}), 'UTC') AS bucket, "
                "sumIf(calls, is_root = 1) AS traces, sum(calls) AS spans, sum(errors) AS errors, "
                "sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, "
                "sum(total_tokens) AS total_tokens, sum(cost) AS cost "
                f"FROM latency_hourly WHERE {HOURLY} GROUP BY bucket ORDER BY bucket",
                tag="stats.series_hourly", params=params)
        return self._db.query(
            f"SELECT {BUCKET} AS bucket, "
            "countIf(s.parent_span_id = '') AS traces, count() AS spans, countIf(s.status = 'error') AS errors, "
            "sum(s.input_tokens) AS input_tokens, sum(s.output_tokens) AS output_tokens, "
            "sum(s.total_tokens) AS total_tokens, sum(ifNull(s.cost, 0)) AS cost "
            f"FROM spans AS s WHERE {RANGE} GROUP BY bucket ORDER BY bucket", tag="stats.series", params=params)

    def latency_series(self, project_id: str, start: datetime, end: datetime, bucket: str) -> list[dict[str, Any]]:
        """Trace latency (root spans) per bucket: p50/p95/p99 in ms."""
        if BUCKET_SECONDS[bucket] >= 3600:
            return self._db.query(
                "SELECT toStartOfInterval(hour, toIntervalSecond({bucket:UInt32}), 'UTC') AS bucket, "
                "quantilesTDigestMerge(0.5, 0.95, 0.99)(duration_ms) AS q FROM latency_hourly "
                f"WHERE {HOURLY} AND is_root = 1 GROUP BY bucket ORDER BY bucket",
                tag="stats.latency_series_hourly", params=self._params(project_id, start, end, bucket))
        return self._db.query(
            f"SELECT {BUCKET} AS bucket, "
            "quantilesTDigest(0.5, 0.95, 0.99)(s.duration_ns / 1e6) AS q FROM spans AS s "
            f"WHERE {RANGE} AND s.parent_span_id = '' GROUP BY bucket ORDER BY bucket",
            tag="stats.latency_series", params=self._params(project_id, start, end, bucket))

    def latency_by(self, project_id: str, start: datetime, end: datetime, dimension: str, *,
                   hourly: bool) -> list[dict[str, Any]]:
        """p50/p95/p99 in ms, call and error counts, per span type / model / tool over the whole range."""
        if hourly:
            key = HOURLY_BREAKDOWNS[dimension]
            return self._db.query(
                f"SELECT {key} AS key, sum(calls) AS calls, sum(errors) AS errors, "
                "quantilesTDigestMerge(0.5, 0.95, 0.99)(duration_ms) AS q FROM latency_hourly "
                f"WHERE {HOURLY} AND {key} != '' GROUP BY key ORDER BY calls DESC LIMIT 100",
                tag=f"stats.latency_by_{dimension}_hourly", params=self._params(project_id, start, end, "1h"))
        expr = BREAKDOWNS[dimension]
        return self._db.query(
            f"SELECT {expr} AS key, count() AS calls, countIf(s.status = 'error') AS errors, "
            "quantilesTDigest(0.5, 0.95, 0.99)(s.duration_ns / 1e6) AS q FROM spans AS s "
            f"WHERE {RANGE} AND {expr} != '' GROUP BY key ORDER BY calls DESC LIMIT 100",
            tag=f"stats.latency_by_{dimension}", params=self._params(project_id, start, end, "1h"))

    def usage_by_model(self, project_id: str, start: datetime, end: datetime, bucket: str) -> list[dict[str, Any]]:
        params = self._params(project_id, start, end, bucket)
        if bucket == "1d":
            return self._db.query(
                "SELECT toDateTime(day, 'UTC') AS bucket, toString(model) AS model, sum(calls) AS calls, "
                "sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, "
                "sum(total_tokens) AS total_tokens, sum(cost) AS cost, sum(priced_calls) AS priced_calls "
                "FROM model_usage_daily WHERE project_id = {p:String} "
                "AND day >= toDate({start:DateTime64(9, 'UTC')}) AND day < toDate({end:DateTime64(9, 'UTC')}) + 1 "
                "GROUP BY day, model ORDER BY day, model", tag="stats.models_daily", params=params)
        if BUCKET_SECONDS[bucket] >= 3600:
            return self._db.query(
                "SELECT toStartOfInterval(hour, toIntervalSecond({bucket:UInt32}), 'UTC') AS bucket, "
                "toString(model) AS model, sum(calls) AS calls, sum(input_tokens) AS input_tokens, "
                "sum(output_tokens) AS output_tokens, sum(total_tokens) AS total_tokens, sum(cost) AS cost, "
                f"sum(priced_calls) AS priced_calls FROM latency_hourly WHERE {HOURLY} AND model != '' "
                "GROUP BY bucket, model ORDER BY bucket, model", tag="stats.models_hourly", params=params)
        return self._db.query(
            f"SELECT {BUCKET} AS bucket, "
            "toString(s.model) AS model, count() AS calls, sum(s.input_tokens) AS input_tokens, "
            "sum(s.output_tokens) AS output_tokens, sum(s.total_tokens) AS total_tokens, "
            "sum(ifNull(s.cost, 0)) AS cost, countIf(s.cost IS NOT NULL) AS priced_calls "
            f"FROM spans AS s WHERE {RANGE} AND s.model != '' "
            "GROUP BY bucket, model ORDER BY bucket, model", tag="stats.models", params=params)

    def scores(self, project_id: str, start: datetime, end: datetime, bucket: str) -> list[dict[str, Any]]:
        """Average of numeric and boolean scores per name and bucket (by when the score was given)."""
        return self._db.query(
            "SELECT toStartOfInterval(created_at, toIntervalSecond({bucket:UInt32}), 'UTC') AS bucket, "
            "toString(name) AS name, count() AS count, avg(value) AS average FROM scores FINAL "
            "WHERE project_id = {p:String} AND created_at >= {start:DateTime64(9, 'UTC')} "
            "AND created_at < {end:DateTime64(9, 'UTC')} AND value IS NOT NULL "
            "GROUP BY bucket, name ORDER BY bucket, name",
            tag="stats.scores", params=self._params(project_id, start, end, bucket))


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")
