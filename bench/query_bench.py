"""Query API benchmark: generate spans directly in the store, then time the HTTP API as a client sees it.

    uv run python bench/query_bench.py                    # 1M then 10M spans (the growth curve)
    uv run python bench/query_bench.py --sizes 1000000    # one size

Data: 20 projects, 30 days, 50-span traces (root agent span, LLM calls with ~600 B of input and output each,
tool calls, steps), ~5 attributes a span, plus one 10,000-span trace; written with ClickHouse's own
`INSERT … SELECT FROM numbers()` (the materialized views fill the rollups as in production; the trace list's
complete rows are then written as migration 0010's backfill does). Each measured
call is repeated; the table reports the median and p95 in milliseconds, through HTTP against `neon up`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from ingest_bench import Server

SPANS_PER_TRACE = 50
PROJECTS = 20
DAYS = 30
REPEATS = 30

GENERATE = textwrap.dedent("""
    import sys, time
    from neon_server.storage.analytics import open_analytics
    from neon_server.storage.analytics.trace_rows import TraceRowStore
    folder, default_project, first, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    db = open_analytics(f"chdb://{folder}")
    per_trace, projects, window_ms = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]) * 86400 * 1000
    now_ms = int(time.time() * 1000)
    chunk = 1_000_000
    for offset in range(first, first + count, chunk):
        n = min(chunk, first + count - offset)
        span = f"SELECT number AS n, intDiv(n, {per_trace}) AS t, n % {per_trace} AS k, " \\
               f"if(t % {projects} = 0, {{dp:String}}, concat('bench-', toString(t % {projects}))) AS project, " \\
               f"lower(hex(MD5(toString(t)))) AS tid, " \\
               f"substring(lower(hex(MD5(concat(toString(t), ':', toString(k))))), 1, 16) AS sid, " \\
               f"if(k = 0, '', substring(lower(hex(MD5(concat(toString(t), ':0')))), 1, 16)) AS parent, " \\
               f"fromUnixTimestamp64Milli(toInt64({now_ms} - cityHash64(t) % {window_ms} + k * 20), 'UTC') AS st, " \\
               f"if(k = 0, 1500, 5 + cityHash64(t, k) % 900) AS dur_ms, " \\
               f"multiIf(k = 0, 'agent', k % 3 = 1, 'generation', k % 3 = 2, 'tool', 'span') AS stype " \\
               f"FROM numbers({offset}, {n})"
        db.command(
            "INSERT INTO spans (project_id, trace_id, span_id, parent_span_id, name, span_type, component_type, "
            "service, start_time, end_time, duration_ns, status, model, provider, input_tokens, output_tokens, "
            "total_tokens, cost, tool_name, session_id, user_id, agent_id, agent_version, environment, tags, "
            "attributes) SELECT project, tid, sid, parent, "
            "multiIf(stype = 'agent', 'support-agent.run', stype = 'generation', 'chat', "
            "stype = 'tool', concat('tool ', ['search', 'calculator', 'fetch_url', 'sql_query'][k % 4 + 1]), 'step'), "
            "stype, if(stype = 'generation', 'reasoning', ''), 'support-agent', st, "
            "st + toIntervalMillisecond(dur_ms), dur_ms * 1000000, "
            "if(cityHash64(t, k, 1) % 50 = 0, 'error', 'ok'), "
            "if(stype = 'generation', ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4'][t % 3 + 1], ''), "
            "if(stype = 'generation', ['openai', 'openai', 'anthropic'][t % 3 + 1], ''), "
            "if(stype = 'generation', 200 + cityHash64(t, k, 2) % 3000, 0) AS itok, "
            "if(stype = 'generation', cityHash64(t, k, 3) % 500, 0) AS otok, itok + otok, "
            "if(stype = 'generation', itok * 2.5e-6 + otok * 1e-5, NULL), "
            "if(stype = 'tool', ['search', 'calculator', 'fetch_url', 'sql_query'][k % 4 + 1], ''), "
            "concat('sess-', toString(t % 5000)), concat('user-', toString(t % 1000)), 'support-agent', "
            "concat('v', toString(t % 5)), if(t % 4 = 0, 'staging', 'production'), "
            "if(t % 10 = 0, ['beta'], []), "
            "map('server.address', 'api.example.com', 'gen_ai.request.temperature', '0.2', "
            "'attempt', toString(k % 3), 'region', ['eu', 'us'][t % 2 + 1]) "
            f"FROM ({span})", tag="bench.generate_spans", params={"dp": default_project})
        db.command(
            "INSERT INTO span_payloads (project_id, trace_id, span_id, start_time, input, output) "
            "SELECT project, tid, sid, st, "
            "concat('[{\\"role\\": \\"user\\", \\"content\\": \\"', randomPrintableASCII(40), "
            "repeat(' the customer asks about the refund policy for order', 11), '\\"}]'), "
            "concat(randomPrintableASCII(40), repeat(' the agent answers with the policy and next steps', 11)) "
            f"FROM ({span}) WHERE stype = 'generation'", tag="bench.generate_payloads", params={"dp": default_project})
        print(f"generated {offset + n - first:,} spans", flush=True)
    TraceRowStore(db).backfill()  # the trace list's rows, as the writer (or migration 0010) makes them
    db.close()
""")

BIG_TRACE = textwrap.dedent("""
    import sys, time
    from neon_server.storage.analytics import open_analytics
    folder, project = sys.argv[1], sys.argv[2]
    db = open_analytics(f"chdb://{folder}")
    db.command(
        "INSERT INTO spans (project_id, trace_id, span_id, parent_span_id, name, span_type, start_time, end_time, "
        "duration_ns, status) SELECT {p:String}, repeat('b', 32), lower(hex(toUInt64(number + 1))), "
        "if(number = 0, '', lower(hex(toUInt64(1)))), concat('step ', toString(number)), "
        "if(number = 0, 'agent', 'tool'), now64(9) - toIntervalSecond(3600) + toIntervalMillisecond(number), "
        "now64(9) - toIntervalSecond(3600) + toIntervalMillisecond(number + 5), 5000000, 'ok' "
        "FROM numbers(10000)", tag="bench.big_trace", params={"p": project})
    db.close()
""")


def timed(client: httpx.Client, path: str, params: dict[str, str] | None = None) -> list[float]:
    times: list[float] = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        response = client.get(path, params=params)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    return f"{statistics.median(ordered):.1f} / {ordered[int(0.95 * (len(ordered) - 1))]:.1f}"


def measure(server: Server, label: str) -> list[str]:
    rows: list[str] = []
    with httpx.Client(base_url=server.url, headers={"x-api-key": server.key}, timeout=60) as client:
        first = client.get("/api/traces", params={"limit": "50"}).json()["traces"]
        fifty = next(t["trace_id"] for t in first if t["span_count"] == SPANS_PER_TRACE)
        month = (datetime.now(UTC) - timedelta(days=DAYS)).isoformat()
        cases = [
            ("trace list, 24 h, 50 rows", "/api/traces", {"limit": "50"}),
            ("trace list + 2 filters", "/api/traces", {"limit": "50", "environment": "production", "status": "ok"}),
            ("trace list + text search", "/api/traces", {"limit": "50", "search": "refund"}),
            ("trace detail, 50 spans", f"/api/traces/{fifty}", None),
            ("trace detail, 10,000 spans", f"/api/traces/{'b' * 32}", None),
            ("analytics, 30 days, daily", "/api/analytics", {"from": month, "bucket": "1d"}),
            ("analytics, 30 days, 6 h", "/api/analytics", {"from": month, "bucket": "6h"}),
            ("sessions, 24 h", "/api/sessions", None),
        ]
        for name, path, params in cases:
            timed(client, path, params)  # warm
            rows.append(f"| {label} | {name} | {summary(timed(client, path, params))} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    server = Server({})
    home = server.home
    project = httpx.get(f"{server.url}/api/project", headers={"x-api-key": server.key}).json()["id"]
    server.stop()
    env_home = {"NEON_HOME": str(home)}
    subprocess.run([sys.executable, "-c", BIG_TRACE, str(home / "chdb"), project], check=True)
    rows = ["| spans in store | call | median / p95 ms |", "|---|---|---|"]
    generated = 0
    try:
        for size in sorted(args.sizes):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", GENERATE, str(home / "chdb"), project, str(generated),
                            str(size - generated), str(SPANS_PER_TRACE), str(PROJECTS), str(DAYS)], check=True)
            print(f"{size:,} spans in store ({time.perf_counter() - started:.0f} s to generate)", flush=True)
            generated = size
            again = Server.reuse(home, env_home)
            try:
                rows += measure(again, f"{size / 1e6:g}M")
            finally:
                again.stop()
            print("\n".join(rows), flush=True)
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
