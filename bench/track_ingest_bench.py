"""Native Track ingest: float points/s from `neon.track` into a real `neon up`, counted in the store afterwards.

A training loop logs `--metrics` metrics a step for `--steps` steps through `neon.track.Run` (the background
thread encodes the columns, spools them to the on-disk buffer and posts them); the clock stops when `close()`
returns, i.e. when the server has acknowledged everything as durable. The server is then stopped and a fresh
process counts the run's points in its chDB folder (`count()` over the deduplicated table).

    uv run python bench/track_ingest_bench.py                          # 100 metrics x 100,000 steps, 3 runs
    uv run python bench/track_ingest_bench.py --steps 20000 --runs 1   # a quick one
    uv run python bench/track_ingest_bench.py --profile server.txt     # py-spy raw stacks of the server

Client and server share the machine's 2 cores, so the figure is a floor for either alone.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ingest_bench import Server, process_cpu

from neon.track import Run


def count_points(server: Server, run_id: str) -> int:
    server.stop()
    script = textwrap.dedent(f"""
        from neon_server.storage.analytics import open_analytics
        db = open_analytics("chdb://{server.home / 'chdb'}")
        print(db.query("SELECT count() AS n FROM track_float_points FINAL WHERE run_id = {{r:String}}",
                       tag="bench.count", params={{"r": {run_id!r}}})[0]["n"])
        db.close()
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def one_run(metrics: int, steps: int, profile: Path | None) -> dict[str, float]:
    server = Server({})
    spy = None
    if profile is not None:
        spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "-r", "100", "--format",
                                "raw", "-o", str(profile), "--pid", str(server.proc.pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
    buffer = Path(tempfile.mkdtemp(prefix="neon-track-buffer-"))
    names = [f"train/metric_{i:03d}" for i in range(metrics)]
    run_id = "bench"
    try:
        cpu0, client0 = process_cpu(server.proc.pid), time.process_time()
        started = time.perf_counter()
        run = Run(run_id, experiment_name="bench", base_url=server.url, api_key=server.key, buffer_dir=buffer)
        for step in range(steps):
            x = step / steps
            run.log_metrics({name: x * i + math.sin(step) for i, name in enumerate(names)}, step=step)
        logged = time.perf_counter()
        run.close()
        closed = time.perf_counter()
        server_cpu, client_cpu = process_cpu(server.proc.pid) - cpu0, time.process_time() - client0
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        stored = count_points(server, run_id)
    finally:
        server.cleanup()
        shutil.rmtree(buffer, ignore_errors=True)
    total = metrics * steps
    seconds = closed - started
    return {"points": total, "stored": stored, "seconds": seconds, "log_seconds": logged - started,
            "points_per_s": stored / seconds, "server_cpu_s": server_cpu, "client_cpu_s": client_cpu,
            "loop_us_per_point": (logged - started) / total * 1e6}


def log_metrics_cost(metrics: int, steps: int = 20_000) -> float:
    """What `log_metrics` alone costs the caller, in ns per point (the same dict each step; no server)."""
    buffer = Path(tempfile.mkdtemp(prefix="neon-track-buffer-"))
    run = Run("cost", base_url="http://127.0.0.1:9", api_key="k", buffer_dir=buffer, flush_interval=3600)
    data = {f"train/metric_{i:03d}": float(i) for i in range(metrics)}
    started = time.perf_counter()
    for step in range(steps):
        run.log_metrics(data, step=step)
    cost = (time.perf_counter() - started) / (steps * metrics) * 1e9
    run.close(timeout=0)
    shutil.rmtree(buffer, ignore_errors=True)
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--metrics", type=int, default=100)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", type=Path, help="write py-spy raw stacks of the server (first run)")
    args = parser.parse_args()
    results = []
    print("| run | points | stored | seconds to close() | points/s | training loop µs/point | client CPU s | "
          "server CPU s | load average |")
    print("|---|---|---|---|---|---|---|---|---|")
    for i in range(args.runs):
        r = one_run(args.metrics, args.steps, args.profile if i == 0 else None)
        results.append(r)
        print(f"| {i + 1} | {r['points']:,} | {r['stored']:,} | {r['seconds']:.2f} | {r['points_per_s']:,.0f} | "
              f"{r['loop_us_per_point']:.3f} | {r['client_cpu_s']:.1f} | {r['server_cpu_s']:.1f} | "
              f"{os.getloadavg()[0]:.1f} |", flush=True)
        if r["stored"] != r["points"]:
            print(f"  !! stored {r['stored']} of {r['points']} points", flush=True)
    per_point = 1e6 / args.metrics / args.steps
    server_us = statistics.median(r["server_cpu_s"] for r in results) * per_point
    client_us = statistics.median(r["client_cpu_s"] for r in results) * per_point
    print(f"\nmedian of {len(results)}: {statistics.median(r['points_per_s'] for r in results):,.0f} points/s; "
          f"server CPU {server_us:.2f} µs/point, client CPU {client_us:.2f} µs/point (the loop's own dicts included)")
    print(f"log_metrics alone: {log_metrics_cost(args.metrics):.0f} ns/point in the caller's thread "
          f"({args.metrics} metrics a call)")


if __name__ == "__main__":
    main()
