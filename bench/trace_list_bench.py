"""Trace list benchmark: 1M traces in one day, every sort × {no filter, status=error, a model}, through HTTP.

    uv run python bench/trace_list_bench.py                       # 1M traces (5 spans each)
    uv run python bench/trace_list_bench.py --traces 100000       # a smaller store
    uv run python bench/trace_list_bench.py --src OTHER/server/src --repeats 5   # another checkout's server

Data: one project, 5-span traces (root agent span, two LLM calls over three models, a tool call, a step) spread
over the last 24 hours, ~2% of spans failed (~10% of traces), written with ClickHouse's `INSERT … SELECT FROM
numbers()`; their trace rows are written as the migration's backfill does and the tables merged. Then 2,000 more
traces arrive one span per insert (5 batches), each batch followed by the same rewrite of the touched traces' rows
as `SpanStore.write` does; they are the longest, costliest traces, so the first pages of the descending sorts are
made of traces split over batches, with older rows of each not merged yet. A `neon up` server then answers
`GET /api/traces` (50 rows, the default 24-hour window); each call is repeated and the median and p95 in ms are
reported, for the first page and for the second (through the cursor). The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from ingest_bench import Server

SPANS_PER_TRACE = 5
SPLIT_TRACES = 2_000

GENERATE = textwrap.dedent("""
    import sys, time
    from neon_server.storage.analytics import open_analytics
    from neon_server.storage.analytics.trace_rows import TraceRowStore
    folder, project, traces, split = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    db = open_analytics(f"chdb://{folder}")
    now_ms = int(time.time() * 1000) - 60_000
    per = 5

    def spans(first, count, span_filter, slow):
        # traces numbered [first, first + count); slow ones last longer and call the model more
        span = f"SELECT number AS n, intDiv(n, {per}) AS t, n % {per} AS k, " \\
               f"lower(hex(MD5(toString(t)))) AS tid, " \\
               f"substring(lower(hex(MD5(concat(toString(t), ':', toString(k))))), 1, 16) AS sid, " \\
               f"if(k = 0, '', substring(lower(hex(MD5(concat(toString(t), ':0')))), 1, 16)) AS parent, " \\
               f"fromUnixTimestamp64Milli(toInt64({now_ms} - 3600000 - cityHash64(t) % 79200000 + k * 20), " \\
               f"'UTC') AS st, " \\
               f"if(k = 0, 100 + cityHash64(t) % 60000 + {slow} * 60000, 5 + cityHash64(t, k) % 900) AS dur_ms, " \\
               f"multiIf(k = 0, 'agent', k IN (1, 3), 'generation', k = 2, 'tool', 'span') AS stype " \\
               f"FROM numbers({first * per}, {count * per}) WHERE {span_filter}"
        db.command(
            "INSERT INTO spans (project_id, trace_id, span_id, parent_span_id, name, span_type, service, start_time, "
            "end_time, duration_ns, status, model, provider, input_tokens, output_tokens, total_tokens, cost, "
            "tool_name, session_id, user_id, agent_id, environment) SELECT {p:String}, tid, sid, parent, "
            "multiIf(stype = 'agent', 'support-agent.run', stype = 'generation', 'chat', stype = 'tool', "
            "'tool search', 'step'), stype, 'support-agent', st, st + toIntervalMillisecond(dur_ms), "
            "dur_ms * 1000000, if(cityHash64(t, k, 1) % 50 = 0, 'error', 'ok'), "
            "if(stype = 'generation', ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4'][(t + k) % 3 + 1], ''), "
            "if(stype = 'generation', ['openai', 'openai', 'anthropic'][(t + k) % 3 + 1], ''), "
            f"if(stype = 'generation', 200 + cityHash64(t, k, 2) % 3000 + {slow} * 5000, 0) AS itok, "
            "if(stype = 'generation', cityHash64(t, k, 3) % 500, 0) AS otok, itok + otok, "
            "if(stype = 'generation', itok * 2.5e-6 + otok * 1e-5, NULL), if(stype = 'tool', 'search', ''), "
            "concat('sess-', toString(t % 5000)), concat('user-', toString(t % 1000)), 'support-agent', "
            f"if(t % 4 = 0, 'staging', 'production') FROM ({span})", tag="bench.generate", params={"p": project})

    started = time.perf_counter()
    for first in range(0, traces, 200_000):
        spans(first, min(200_000, traces - first), "1", 0)
    TraceRowStore(db).backfill()
    for table in ("spans", "traces", "trace_rows"):  # a settled store: the server starts without a merge backlog
        db.command(f"OPTIMIZE TABLE {table} FINAL", tag="bench.optimize")
    print(f"{traces:,} traces in {time.perf_counter() - started:.0f} s", flush=True)
    rows = TraceRowStore(db)
    ids = db.query(f"SELECT groupArray(lower(hex(MD5(toString(number))))) AS ids FROM numbers({traces}, {split})",
                   tag="bench.ids")[0]["ids"]
    for k in range(per):  # one span of each split trace per batch, its rows rewritten as the writer does
        spans(traces, split, f"k = {k}", 1)
        rows.refresh(project, list(ids))
    print(f"{split:,} traces written over {per} batches", flush=True)
    db.close()
""")

CASES = [(sort, label, params) for sort in ("time", "duration", "cost", "tokens")
         for label, params in (("no filter", {}), ("status=error", {"status": "error"}),
                               ("model=claude-sonnet-4", {"model": "claude-sonnet-4"}))]


def timed(client: httpx.Client, params: dict[str, str], repeats: int) -> tuple[list[float], dict]:
    times: list[float] = []
    body: dict = {}
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get("/api/traces", params=params)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{params}: {response.status_code} {response.text[:200]}")
        body = response.json()
    return times, body


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    return f"{statistics.median(ordered):.1f} / {ordered[round(0.95 * (len(ordered) - 1))]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--src", help="serve with this checkout's server/src (e.g. the code before a change)")
    parser.add_argument("--home", type=Path, help="reuse a store generated by an earlier run (kept afterwards)")
    args = parser.parse_args()
    env = {"PYTHONPATH": str(args.src)} if args.src else {}
    if args.home:
        server = Server.reuse(args.home, env)
    else:
        server = Server({})
        project = httpx.get(f"{server.url}/api/project", headers={"x-api-key": server.key}).json()["id"]
        server.stop()
        subprocess.run([sys.executable, "-c", GENERATE, str(server.home / "chdb"), project, str(args.traces),
                        str(SPLIT_TRACES)], check=True)
        print(f"store: {server.home}", flush=True)
        server = Server.reuse(server.home, env)
    rows = ["| sort | filter | page 1 median / p95 ms | page 2 (cursor) median / p95 ms |", "|---|---|---|---|"]
    load = os.getloadavg()
    try:
        with httpx.Client(base_url=server.url, headers={"x-api-key": server.key}, timeout=120) as client:
            for sort, label, extra in CASES:
                params = {"limit": "50", "sort": sort, **extra}
                timed(client, params, 1)  # warm
                first, body = timed(client, params, args.repeats)
                second, _ = timed(client, {**params, "cursor": body["next_cursor"]}, args.repeats)
                rows.append(f"| {sort} | {label} | {summary(first)} | {summary(second)} |")
                print(rows[-1], flush=True)
    finally:
        server.stop()
        if not args.home:
            print(f"(store kept for --home: {server.home})")
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; after: "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
