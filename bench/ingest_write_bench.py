"""Where the write side's CPU goes: each statement a written batch costs, by batch size, with views detached.

    uv run python bench/ingest_write_bench.py                          # batches of 1k, 5k, 20k, 50k spans
    uv run python bench/ingest_write_bench.py --batch 5000 --drop daily_stats_mv,model_usage_daily_mv
    uv run python bench/ingest_write_bench.py --batch 5000 --no-trace-rows
    uv run python bench/ingest_write_bench.py --batch 5000 --plain-inserts      # without spans.INSERT_SETTINGS

One process, embedded chDB in a temporary folder, no HTTP: the workload of ingest_bench.py (50-span agent
traces) is decoded first, then written batch by batch the way `SpanStore.write` does (payloads, spans with their
materialized views, the trace list's rows). Prints µs of CPU per span for each statement — the whole process,
so the engine's own threads and the background merges running meanwhile count — the part of it spent in the
calling thread, the wall time of all statements (the batch writer waits for them one after the other, so this
bounds its spans/s), and the merges still running after the last batch (counted until none runs).

The engine's floor — spans and payloads stored with their merges, nothing derived from them:

    uv run python bench/ingest_write_bench.py --batch 10000 --no-trace-rows \
        --drop traces_mv,daily_stats_mv,model_usage_daily_mv,latency_hourly_mv
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from workload import make_request

from neon_server.ingest.otlp import decode_protobuf
from neon_server.ingest.semconv import Limits
from neon_server.storage.analytics import open_analytics
from neon_server.storage.analytics.executor import AnalyticsDB
from neon_server.storage.analytics.spans import INSERT_SETTINGS, SpanStore
from neon_server.storage.analytics.trace_rows import TraceRowStore

STEPS = ("payloads", "spans", "trace_rows")


def cpu() -> float:
    times = os.times()
    return times.user + times.system


def run(batch: int, spans: int, drop: list[str], trace_rows: bool, settle: float, plain: bool) -> str:
    rng = random.Random(1)
    limits = Limits()
    batches = [decode_protobuf(make_request(rng, batch // 50).SerializeToString(), "bench", limits)
               .columns.to_arrow(f"request-{i}") for i in range(spans // batch)]
    folder = tempfile.mkdtemp(prefix="neon-write-bench-")
    try:
        db = open_analytics(f"chdb://{folder}")
        for view in drop:
            db.command(f"DROP VIEW {view}", tag="bench.drop_view")
        rows = TraceRowStore(db)
        store = SpanStore(db)
        settings = {} if plain else INSERT_SETTINGS
        process = dict.fromkeys(STEPS, 0.0)
        calling = dict.fromkeys(STEPS, 0.0)
        wall = time.perf_counter()
        for span_table, payload_table in batches:
            steps: dict[str, Callable[[], None]] = {
                "payloads": partial(store.insert_payloads, payload_table, settings),
                "spans": partial(store.insert_spans, span_table, settings),
                "trace_rows": partial(rows.refresh_written, span_table) if trace_rows else lambda: None}
            for name, step in steps.items():
                started, own = cpu(), time.thread_time()
                step()
                process[name] += cpu() - started
                calling[name] += time.thread_time() - own
        wall = time.perf_counter() - wall
        written = cpu()
        _settle(db, settle)
        after = cpu() - written
        db.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    total = len(batches) * batch
    per = {name: seconds / total * 1e6 for name, seconds in process.items()}
    return (f"| {batch:,} | {'none' if plain else 'ingest'} | {', '.join(drop) or '–'} | "
            f"{'yes' if trace_rows else 'no'} | "
            + " | ".join(f"{per[name]:.1f}" for name in STEPS)
            + f" | {sum(per.values()):.1f} | {sum(calling.values()) / total * 1e6:.1f} | {wall / total * 1e6:.1f} "
            f"| {after / total * 1e6:.1f} |")


def _settle(db: AnalyticsDB, longest: float) -> None:
    """Wait until no merge runs (checked each half second), at most `longest` seconds."""
    deadline = time.monotonic() + longest
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if not db.query("SELECT count() AS n FROM system.merges", tag="bench.merges")[0]["n"]:
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, action="append", help="spans per batch (repeatable; a multiple of 50)")
    parser.add_argument("--spans", type=int, default=100_000, help="spans written per run")
    parser.add_argument("--drop", default="", help="materialized views to drop first, comma-separated")
    parser.add_argument("--no-trace-rows", action="store_true", help="skip the trace list's row rewrite")
    parser.add_argument("--plain-inserts", action="store_true",
                        help="inserts without the ingest path's settings (spans.INSERT_SETTINGS)")
    parser.add_argument("--settle", type=float, default=30.0,
                        help="longest wait for the merges after the last batch (their CPU is counted)")
    args = parser.parse_args()
    drop = [v for v in args.drop.split(",") if v]
    print("| batch | insert settings | views dropped | trace rows | payloads | spans (+ views) | trace rows | "
          "all statements | in the calling thread | wall | merges after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for batch in args.batch or [1_000, 5_000, 20_000, 50_000]:
        print(run(batch, args.spans, drop, not args.no_trace_rows, args.settle, args.plain_inserts), flush=True)


if __name__ == "__main__":
    main()
