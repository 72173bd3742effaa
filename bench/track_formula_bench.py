"""Track formula benchmark: a formula over two long series, bucketed, through HTTP against `neon up`, at 1× and 10×.

    uv run python bench/track_formula_bench.py                 # scales 1 and 10
    uv run python bench/track_formula_bench.py --scales 1      # one scale

Data, per scale s: one run with two metrics `a` and `b` of s × 1M points each, and 10 runs with the same two
metrics of s × 100k points each, written with ClickHouse's `INSERT … SELECT FROM numbers()` into the stopped
server's store (runs created through the service first), as bench/track_read_bench.py does. Each call is
repeated; the table reports the median and p95 in milliseconds as an HTTP client sees them.
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
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from ingest_bench import Server

REPEATS = 7
GROUP_RUNS = 10

GENERATE = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from neon_server.domain.track import RunCreate
    from neon_server.runtime import open_services
    from neon_server.settings import Settings
    home, big, each, many = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    services = open_services(Settings(home=home))
    project = services.projects.by_name("default").id
    runs = ["big"] + [f"seed-{i}" for i in range(many)]
    async def create():
        for run_id in runs:
            await services.track.create_run(project, RunCreate(run_id, experiment_name="bench"))
    asyncio.run(create())
    def fill(run_id, path, points, shift):
        for offset in range(0, points, 5_000_000):
            n = min(5_000_000, points - offset)
            services.analytics.command(
                "INSERT INTO track_float_points (project_id, run_id, path, step, time, value, preview, ratio, "
                "version) SELECT {p:String}, {r:String}, {path:String}, toFloat64(number), "
                "fromUnixTimestamp64Milli(toInt64(1760000000000 + number * 100), 'UTC'), "
                "exp(-number / {scale:Float64}) + (cityHash64(number + {shift:UInt64}) % 1000) / 1e4, false, 1, 1 "
                "FROM numbers({o:UInt64}, {n:UInt64})", tag="bench.fill",
                params={"p": project, "r": run_id, "path": path, "o": offset, "n": n, "scale": points / 5,
                        "shift": shift})
    for path, shift in (("a", 0), ("b", 7)):
        fill("big", path, big, shift)
        for i, run_id in enumerate(runs[1:]):
            fill(run_id, path, each, shift + i)
    services.analytics.command(
        "INSERT INTO track_series (project_id, run_id, path, type, count, finite_count, first_step, last_step, "
        "last_value, min_value, max_value, mean_value, sum_sq_dev, first_time, last_time, version) "
        "SELECT project_id, run_id, path, 'floatSeries', count(), count(), min(step), max(step), "
        "argMax(value, step), min(value), max(value), avg(value), varPop(value) * count(), min(time), max(time), "
        "1 FROM track_float_points GROUP BY project_id, run_id, path", tag="bench.summaries")
    services.close()
""")


def timed(call: Any, repeats: int = REPEATS) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[max(int(len(times) * 0.95) - 1, 0)]


def measure(scale: int) -> dict[str, tuple[float, float]]:
    server = Server({})
    try:
        server.stop()
        subprocess.run([sys.executable, "-c", GENERATE, str(server.home), str(scale * 1_000_000),
                        str(scale * 100_000), str(GROUP_RUNS)], check=True)
        server = Server.reuse(server.home, {})
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.key}"}, timeout=600)

        def formula(body: dict[str, Any]) -> None:
            answer = client.post("/api/track/formula", json=body)
            answer.raise_for_status()
            found = answer.json()
            first = (found["runs"] or found["groups"])[0]
            assert first["buckets"]["index"] or first["points"], answer.text[:300]

        big = {"runs": ["big"], "buckets": 1000}
        seeds = [f"seed-{i}" for i in range(GROUP_RUNS)]
        window = {"from_x": scale * 250_000.0, "to_x": scale * 260_000.0}
        group = {"groups": [{"name": "seeds", "runs": seeds}], "buckets": 1000}
        calls = [(f"ema(${{a}}, 0.1) / ${{b}}: 2 × {scale}M points → 1,000 buckets", "ema(${a}, 0.1) / ${b}", big),
                 (f"${{a}} / ${{b}}: 2 × {scale}M points → 1,000 buckets", "${a} / ${b}", big),
                 (f"sma(${{a}}, 100): {scale}M points", "sma(${a}, 100)", big),
                 (f"gaussian(${{a}}, 5): {scale}M points", "gaussian(${a}, 5)", big),
                 (f"zoom: ema(${{a}}, 0.1) / ${{b}}, 10k-step window of {scale}M", "ema(${a}, 0.1) / ${b}",
                  {**big, **window}),
                 (f"mean(ema(${{a}}, 0.1)): {GROUP_RUNS} runs × {scale * 100}k, band", "mean(ema(${a}, 0.1))", group)]
        results = {}
        for name, text, extra in calls:
            body = {**extra, "formula": text}
            formula(body)  # warm the caches as a chart that was opened before would
            results[name] = timed(lambda body=body: formula(body))
            print(f"  {name}: median {results[name][0]:.0f} ms", flush=True)
        return results
    finally:
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    results = {scale: measure(scale) for scale in args.scales}
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print("| call | " + " | ".join(f"{s}×: median / p95 ms" for s in args.scales) + " |")
    print("|---|" + "---|" * len(args.scales))
    for i, name in enumerate(results[args.scales[0]]):
        cells = [f"{list(results[s].values())[i][0]:.0f} / {list(results[s].values())[i][1]:.0f}" for s in args.scales]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
