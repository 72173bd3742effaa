"""The analytics store on real chDB: migrations, the query chokepoint, inserts and the rollup views."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from neon_server.storage.analytics import AnalyticsDB, AnalyticsError, apply_migrations, open_analytics
from neon_server.storage.analytics.clickhouse_backend import parse_clickhouse_url
from neon_server.storage.analytics.migrations import MIGRATIONS_TABLE, Migration, bundled_migrations

CORE_TABLES = {"spans", "span_payloads", "traces", "traces_mv", "scores", "daily_stats", "daily_stats_mv",
               "model_usage_daily", "model_usage_daily_mv", MIGRATIONS_TABLE}


def tables(db: AnalyticsDB) -> set[str]:
    rows = db.query("SELECT name FROM system.tables WHERE database = {db:String}", tag="tests.tables",
                    params={"db": db.database})
    return {r["name"] for r in rows}


def test_migrations_create_core_tables_and_are_recorded(analytics: AnalyticsDB) -> None:
    assert tables(analytics) >= CORE_TABLES
    recorded = analytics.query(f"SELECT version, name FROM {MIGRATIONS_TABLE} FINAL ORDER BY version",
                               tag="tests.migrations")
    assert [(r["version"], r["name"]) for r in recorded] == [(m.version, m.name) for m in bundled_migrations()]
    assert apply_migrations(analytics) == []  # nothing left to apply


def test_new_migration_applies_once_and_edits_are_refused(analytics: AnalyticsDB) -> None:
    extra = Migration(9001, "extra", "CREATE TABLE IF NOT EXISTS extra (x UInt8) ENGINE = MergeTree ORDER BY x;")
    assert apply_migrations(analytics, [*bundled_migrations(), extra]) == [9001]
    assert "extra" in tables(analytics)
    assert apply_migrations(analytics, [*bundled_migrations(), extra]) == []
    edited = Migration(9001, "extra", extra.sql + "\n-- edited\n")
    with pytest.raises(AnalyticsError, match=r"9001_extra\.sql changed after it was applied"):
        apply_migrations(analytics, [*bundled_migrations(), edited])


def test_failed_migration_names_file_and_statement(analytics: AnalyticsDB) -> None:
    broken = Migration(9002, "broken", "SELECT 1;\nCREATE TABLE nope (x NoSuchType) ENGINE = Memory;")
    with pytest.raises(AnalyticsError, match=r"9002_broken.sql, statement 2 failed: \[migrations.9002\]"):
        apply_migrations(analytics, [broken])


def test_parameters_are_bound_never_spliced(analytics: AnalyticsDB) -> None:
    hostile = "x'; DROP TABLE spans; --"
    rows = analytics.query("SELECT {v:String} AS v, length({v:String}) AS n", tag="tests.params",
                           params={"v": hostile})
    assert rows == [{"v": hostile, "n": len(hostile)}]
    assert "spans" in tables(analytics)


@pytest.mark.parametrize("value", ["line\nbreak", "tab\there", "back\\slash", "a\\tb", "\\N", "ends\\", "cr\rlf"])
def test_string_parameters_arrive_exactly_as_given(analytics: AnalyticsDB, value: str) -> None:
    # Text parameters travel in ClickHouse's escaped format: unescaped, a newline cut the value short (a server
    # error) and a backslash started an escape (`a\tb` matched a tab, `\N` matched NULL).
    rows = analytics.query("SELECT {v:String} AS v", tag="tests.params", params={"v": value})
    assert rows == [{"v": value}]


def test_array_parameters_are_bound_with_hostile_elements(analytics: AnalyticsDB) -> None:
    values = ["plain", "it's", "back\\slash", "'); DROP TABLE spans; --", ""]
    rows = analytics.query("SELECT {xs:Array(String)} AS xs, length({xs:Array(String)}) AS n, "
                           "has({xs:Array(String)}, 'it''s') AS found", tag="tests.array", params={"xs": values})
    assert rows == [{"xs": values, "n": 5, "found": 1}]
    numbers = analytics.query("SELECT arraySum({xs:Array(Int64)}) AS s", tag="tests.array", params={"xs": [1, 2, -3]})
    assert numbers == [{"s": 0}]
    assert "spans" in tables(analytics)


def test_every_query_needs_a_valid_tag(analytics: AnalyticsDB) -> None:
    with pytest.raises(ValueError, match="query tag"):
        analytics.query("SELECT 1", tag="*/ DROP TABLE spans /*")
    with pytest.raises(ValueError, match="query tag"):
        analytics.query("SELECT 1", tag="")


def test_engine_errors_carry_the_tag(analytics: AnalyticsDB) -> None:
    with pytest.raises(AnalyticsError, match=r"^\[tests.missing\] .*no_such_table"):
        analytics.query("SELECT * FROM no_such_table", tag="tests.missing")


def test_a_statement_failing_midway_leaves_the_next_one_working(analytics: AnalyticsDB) -> None:
    """chDB's Arrow output is left half written by an error raised while rows stream (not at parse time): the
    next Arrow query on that connection failed ("Invalid flatbuffers message") until the backend reset it."""
    failing = "SELECT number + throwIf(number = 70000, 'stop here') AS n FROM numbers(100000)"
    for _ in range(3):
        with pytest.raises(AnalyticsError, match="stop here"):
            analytics.query_arrow(failing, tag="test.fails")
        assert analytics.query("SELECT count() AS n FROM numbers(10)", tag="test.next") == [{"n": 10}]


def test_insert_rejects_non_identifiers(analytics: AnalyticsDB) -> None:
    with pytest.raises(ValueError, match="not a plain SQL identifier"):
        analytics.insert_arrow("spans; DROP TABLE x", pa.table({"a": [1]}), tag="tests.insert")
    with pytest.raises(ValueError, match="not a plain SQL identifier"):
        analytics.insert_arrow("spans", pa.table({"a) SELECT 1 --": [1]}), tag="tests.insert")


T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def span_batch(rows: list[dict[str, Any]]) -> pa.Table:
    defaults: dict[str, Any] = {"project_id": "p1", "parent_span_id": "", "span_type": "span", "status": "ok",
                                "model": "", "provider": "", "input_tokens": 0, "output_tokens": 0,
                                "total_tokens": 0, "cost": None, "tool_name": "", "session_id": "",
                                "tags": [], "attributes": {}}
    full = [{**defaults, **r} for r in rows]
    columns = {k: [r[k] for r in full] for k in full[0]}
    ts = pa.timestamp("ns", tz="UTC")
    return pa.table({
        **{k: v for k, v in columns.items() if k not in ("start", "seconds", "attributes", "cost", "tags")},
        "tags": pa.array(columns["tags"], pa.list_(pa.string())),
        "start_time": pa.array([r["start"] for r in full], ts),
        "end_time": pa.array([r["start"] + timedelta(seconds=r["seconds"]) for r in full], ts),
        "duration_ns": pa.array([int(r["seconds"] * 1e9) for r in full], pa.uint64()),
        "cost": pa.array(columns["cost"], pa.float64()),
        "attributes": pa.array([list(r["attributes"].items()) for r in full], pa.map_(pa.string(), pa.string())),
    })


def test_spans_roll_up_into_traces_across_batches(analytics: AnalyticsDB) -> None:
    # One trace in two insert batches (the root arrives last), plus a trace of another project.
    analytics.insert_arrow("spans", span_batch([
        {"trace_id": "t1", "span_id": "s2", "parent_span_id": "s1", "name": "llm", "span_type": "generation",
         "model": "gpt-4o", "provider": "openai", "input_tokens": 100, "output_tokens": 20,
         "total_tokens": 120, "cost": 0.5, "start": T0 + timedelta(seconds=1), "seconds": 2.0,
         "session_id": "sess-1", "tags": ["beta"], "attributes": {"k": "v"}},
        {"trace_id": "t1", "span_id": "s3", "parent_span_id": "s1", "name": "search", "span_type": "tool",
         "tool_name": "search", "status": "error", "start": T0 + timedelta(seconds=3), "seconds": 0.5},
    ]), tag="tests.insert")
    analytics.insert_arrow("spans", span_batch([
        {"trace_id": "t1", "span_id": "s1", "name": "agent", "span_type": "agent", "start": T0, "seconds": 5.0},
        {"project_id": "p2", "trace_id": "t9", "span_id": "x", "name": "other", "model": "claude",
         "provider": "anthropic", "input_tokens": 7, "total_tokens": 7, "start": T0, "seconds": 1.0},
    ]), tag="tests.insert")

    trace = analytics.query("""
        SELECT trace_id, min(start_time) AS start, max(end_time) AS end, max(name) AS name,
               max(root_span_id) AS root, max(status) AS status, sum(span_count) AS spans,
               sum(error_count) AS errors, sum(llm_call_count) AS llm_calls, sum(tool_call_count) AS tool_calls,
               sum(total_tokens) AS tokens, sum(cost) AS cost, sum(priced_span_count) AS priced,
               sum(unpriced_llm_calls) AS unpriced, max(session_id) AS session, groupUniqArrayArray(tags) AS tags,
               groupUniqArrayArray(models) AS models, groupUniqArrayArray(tool_names) AS tools
        FROM traces GROUP BY trace_id ORDER BY trace_id""", tag="tests.traces")
    assert len(trace) == 2
    t = trace[0]
    assert (t["name"], t["root"], t["status"], t["spans"], t["errors"]) == ("agent", "s1", 2, 3, 1)
    assert (t["llm_calls"], t["tool_calls"], t["tokens"], t["cost"], t["priced"]) == (1, 1, 120, 0.5, 1)
    assert (t["unpriced"], trace[1]["unpriced"]) == (0, 1)  # t9: a model and tokens, no cost
    assert (t["session"], t["tags"], t["models"], t["tools"]) == ("sess-1", ["beta"], ["gpt-4o"], ["search"])
    assert t["start"].to_pydatetime() == T0
    assert t["end"].to_pydatetime() == T0 + timedelta(seconds=5)

    daily = analytics.query("""
        SELECT span_type, sum(span_count) AS n, sum(root_span_count) AS roots, sum(error_count) AS errors
        FROM daily_stats WHERE project_id = 'p1' GROUP BY span_type ORDER BY span_type""", tag="tests.daily")
    assert daily == [{"span_type": "agent", "n": 1, "roots": 1, "errors": 0},
                     {"span_type": "generation", "n": 1, "roots": 0, "errors": 0},
                     {"span_type": "tool", "n": 1, "roots": 0, "errors": 1}]
    usage = analytics.query("""
        SELECT project_id, model, provider, sum(calls) AS calls, sum(total_tokens) AS tokens, sum(cost) AS cost,
               sum(priced_calls) AS priced
        FROM model_usage_daily GROUP BY project_id, model, provider ORDER BY project_id""", tag="tests.usage")
    assert usage == [
        {"project_id": "p1", "model": "gpt-4o", "provider": "openai", "calls": 1, "tokens": 120, "cost": 0.5,
         "priced": 1},
        {"project_id": "p2", "model": "claude", "provider": "anthropic", "calls": 1, "tokens": 7, "cost": 0.0,
         "priced": 0},
    ]
    attrs = analytics.query("SELECT attributes['k'] AS k FROM spans WHERE span_id = 's2'", tag="tests.attrs")
    assert attrs == [{"k": "v"}]


def unpriced_by_trace(db: AnalyticsDB) -> dict[str, int]:
    rows = db.query("SELECT trace_id, sum(unpriced_llm_calls) AS n FROM traces GROUP BY trace_id",
                    tag="tests.unpriced")
    return {r["trace_id"]: r["n"] for r in rows}


def test_unpriced_llm_calls_are_counted_for_traces_written_before_the_migration(chdb_folder: Path) -> None:
    db = open_analytics(f"chdb://{chdb_folder}?database=before_0004", migrate=False)
    try:
        before, later = [m for m in bundled_migrations() if m.version < 4], bundled_migrations()
        apply_migrations(db, before)
        old = {"span_type": "generation", "model": "acme-llm", "input_tokens": 10, "total_tokens": 10,
               "start": T0, "seconds": 1.0}
        db.insert_arrow("spans", span_batch([
            {**old, "trace_id": "old", "span_id": "a", "name": "unpriced"},
            {**old, "trace_id": "old", "span_id": "b", "name": "priced", "cost": 0.1},
            {**old, "trace_id": "old", "span_id": "c", "name": "no tokens", "input_tokens": 0, "total_tokens": 0},
            {**old, "trace_id": "all-priced", "span_id": "a", "name": "priced", "cost": 0.1},
        ]), tag="tests.insert")
        assert apply_migrations(db, later) == [m.version for m in later if m.version >= 4]
        assert unpriced_by_trace(db) == {"old": 1, "all-priced": 0}
        db.insert_arrow("spans", span_batch([{**old, "trace_id": "old", "span_id": "d", "name": "new"}]),
                        tag="tests.insert")
        assert unpriced_by_trace(db) == {"old": 2, "all-priced": 0}  # the view counts new spans
        start = db.query("SELECT min(start_time) AS s, sum(span_count) AS n FROM traces WHERE trace_id = 'old'",
                         tag="tests.start")
        assert (start[0]["s"].to_pydatetime(), start[0]["n"]) == (T0, 4)  # the backfill row adds no spans
        backfill = next(m for m in later if m.version == 4).statements()[-1]
        db.command(backfill, tag="tests.backfill_again")  # an interrupted migration run again
        assert unpriced_by_trace(db) == {"old": 2, "all-priced": 0}
    finally:
        db.command("DROP DATABASE IF EXISTS before_0004", tag="tests.drop")
        db.close()


def test_data_survives_reopen(chdb_folder: Path) -> None:
    url = f"chdb://{chdb_folder}?database=reopen"
    first = open_analytics(url)
    first.command("INSERT INTO scores (project_id, score_id, trace_id, name, value, data_type, source) "
                  "VALUES ('p', 's', 't', 'quality', 0.9, 'numeric', 'api')", tag="tests.insert")
    first.close()
    second = open_analytics(url)
    try:
        assert second.query("SELECT value FROM scores", tag="tests.read") == [{"value": 0.9}]
    finally:
        second.command("DROP DATABASE reopen", tag="tests.drop")
        second.close()


def test_second_process_gets_a_clear_lock_error(analytics: AnalyticsDB, chdb_folder: Path) -> None:
    script = textwrap.dedent(f"""
        from neon_server.storage.analytics import open_analytics, DataFolderLocked
        try:
            open_analytics("chdb://{chdb_folder}")
        except DataFolderLocked as exc:
            print(exc)
            raise SystemExit(3)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stderr
    assert f"{chdb_folder} is in use by another process (pid " in result.stdout
    assert "only one process" in result.stdout


def test_clickhouse_urls() -> None:
    target = parse_clickhouse_url("clickhouses://neon:s%40cret@ch.internal/analytics")
    assert (target.host, target.port, target.username, target.password, target.database, target.secure) == (
        "ch.internal", 8443, "neon", "s@cret", "analytics", True)
    plain = parse_clickhouse_url("clickhouse://localhost")
    assert (plain.port, plain.username, plain.database, plain.secure) == (8123, "default", "neon", False)
    with pytest.raises(ValueError, match="not a plain SQL identifier"):
        parse_clickhouse_url("clickhouse://h/bad-name;drop")
    with pytest.raises(ValueError, match="has no host"):
        parse_clickhouse_url("clickhouse:///db")


def test_trace_rows_stay_whole_across_batches_and_are_repaired_after_a_crash(analytics: AnalyticsDB) -> None:
    from neon_server.storage.analytics.spans import SpanStore
    from neon_server.storage.analytics.trace_rows import TraceRowStore

    def newest() -> dict[str, Any]:
        rows = analytics.query("SELECT * FROM trace_rows WHERE trace_id = 't1' ORDER BY span_count DESC LIMIT 1",
                               tag="tests.trace_rows")
        return rows[0]

    llm = {"trace_id": "t1", "span_id": "s2", "parent_span_id": "s1", "name": "llm", "span_type": "generation",
           "model": "gpt-4o", "input_tokens": 100, "total_tokens": 120, "cost": 0.5,
           "start": T0 + timedelta(seconds=1), "seconds": 2.0}
    SpanStore(analytics).write(span_batch([llm]), pa.table({}))
    row = newest()
    assert (row["span_count"], row["total_tokens"], row["name"], row["duration_ns"]) == (1, 120, "", 2_000_000_000)
    # The root lands in a second batch, but the process stops before the rows are rewritten.
    analytics.insert_arrow("spans", span_batch([{"trace_id": "t1", "span_id": "s1", "name": "agent", "start": T0,
                                                 "seconds": 5.0, "status": "error"}]), tag="tests.insert")
    assert newest()["span_count"] == 1
    TraceRowStore(analytics).refresh_last(60)  # what a restart does
    row = newest()
    assert (row["span_count"], row["total_tokens"], row["cost"], row["name"], row["status"], row["models"],
            row["duration_ns"]) == (2, 120, 0.5, "agent", 2, ["gpt-4o"], 5_000_000_000)
    analytics.command("TRUNCATE TABLE trace_rows", tag="tests.truncate")
    TraceRowStore(analytics).backfill()  # the migration's backfill: every trace of the rollup, once
    TraceRowStore(analytics).backfill()
    assert analytics.query("SELECT count() AS n FROM trace_rows", tag="tests.count")[0]["n"] == 1
    assert newest()["span_count"] == 2
