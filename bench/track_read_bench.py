"""Track read benchmark: bucketed series through HTTP against `neon up`, at 1× and 10× the data.

    uv run python bench/track_read_bench.py                 # scales 1 and 10
    uv run python bench/track_read_bench.py --scales 1      # one scale

Data, per scale s: one run with one metric of s × 1M points, and 100 runs with one metric of s × 100k points
each; written with ClickHouse's own `INSERT … SELECT FROM numbers()` into the stopped server's store (runs are
created through the service first, so they have their identity and sys attributes). Each call is repeated; the
table reports the median and p95 in milliseconds as an HTTP client sees them. Summaries and the pre-aggregated
step blocks are computed once in SQL, as the writer keeps them for points that come through the API.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from ingest_bench import Server

REPEATS = 15
MANY_RUNS = 100

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
    def fill(run_id, points):
        for offset in range(0, points, 5_000_000):
            n = min(5_000_000, points - offset)
            services.analytics.command(
                "INSERT INTO track_float_points (project_id, run_id, path, step, time, value, preview, ratio, "
                "version) SELECT {p:String}, {r:String}, 'train/loss', toFloat64(number), "
                "fromUnixTimestamp64Milli(toInt64(1760000000000 + number * 100), 'UTC'), "
                "exp(-number / {scale:Float64}) + (cityHash64(number) % 1000) / 1e4, false, 1, 1 "
                "FROM numbers({o:UInt64}, {n:UInt64})", tag="bench.fill",
                params={"p": project, "r": run_id, "o": offset, "n": n, "scale": points / 5})
    fill("big", big)
    for run_id in runs[1:]:
        fill(run_id, each)
    # the summaries the writer keeps when points come through the API
    services.analytics.command(
        "INSERT INTO track_series (project_id, run_id, path, type, count, finite_count, first_step, last_step, "
        "last_value, min_value, max_value, mean_value, sum_sq_dev, first_time, last_time, version) "
        "SELECT project_id, run_id, path, 'floatSeries', count(), count(), min(step), max(step), "
        "argMax(value, step), min(value), max(value), avg(value), varPop(value) * count(), min(time), max(time), "
        "1 FROM track_float_points GROUP BY project_id, run_id, path", tag="bench.summaries")
    # the step blocks the writer keeps (neon_server/track/blocks.py), computed the same way in SQL
    services.analytics.command(
        "INSERT INTO track_float_blocks SELECT project_id, run_id, path, level, "
        "toInt64(floor(b4 / exp2(level - 4))) AS block, min(f), max(l), min(mn), max(mx), sum(sm), sum(fc), "
        "sum(nc), sum(pc), sum(ngc) FROM (SELECT project_id, run_id, path, toInt64(ceil(step / 16)) - 1 AS b4, "
        "min(tuple(if(isFinite(value), step, inf), value)) AS f, max(tuple(if(isFinite(value), step, -inf), value)) "
        "AS l, min(if(isFinite(value), value, inf)) AS mn, max(if(isFinite(value), value, -inf)) AS mx, "
        "sum(if(isFinite(value), value, 0)) AS sm, toUInt64(countIf(isFinite(value))) AS fc, "
        "toUInt64(countIf(isNaN(value))) AS nc, toUInt64(countIf(value = inf)) AS pc, "
        "toUInt64(countIf(value = -inf)) AS ngc FROM track_float_points GROUP BY project_id, run_id, path, b4) "
        "ARRAY JOIN [4, 8, 12] AS level GROUP BY project_id, run_id, path, level, block", tag="bench.blocks")
    services.close()
""")


def timed(call: object, repeats: int = REPEATS) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()  # type: ignore[operator]
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def measure(scale: int) -> dict[str, tuple[float, float]]:
    server = Server({})
    try:
        server.stop()
        subprocess.run([sys.executable, "-c", GENERATE, str(server.home), str(scale * 1_000_000),
                        str(scale * 100_000), str(MANY_RUNS)], check=True)
        server = Server.reuse(server.home, {})
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.key}"}, timeout=120)

        def buckets(body: dict[str, object]) -> None:
            answer = client.post("/api/track/buckets", json=body)
            answer.raise_for_status()
            assert answer.json()["series"][0]["buckets"], answer.text[:200]

        one = {"series": [{"run_id": "big", "path": "train/loss"}], "buckets": 1000}
        many = {"series": [{"run_id": f"seed-{i}", "path": "train/loss"} for i in range(MANY_RUNS)], "buckets": 1000}
        # what a chart of many runs draws: a line (last point of each bucket) and its min/max band
        chart = {**many, "fields": ["last_x", "last_y", "min", "max"]}
        zoom = {**one, "from_x": scale * 250_000.0, "to_x": scale * 260_000.0}
        buckets(one)  # warm the caches as a chart that was opened before would
        return {f"1 series × {scale}M points → 1,000 buckets": timed(lambda: buckets(one)),
                f"{MANY_RUNS} runs × {scale * 100}k points → 1,000 buckets each": timed(lambda: buckets(many), 7),
                f"{MANY_RUNS} runs × {scale * 100}k points, a chart's fields (line + band)": timed(
                    lambda: buckets(chart), 7),
                f"zoom: 10k-step window of the {scale}M series": timed(lambda: buckets(zoom))}
    finally:
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args()
    results = {scale: measure(scale) for scale in args.scales}
    print("| call | " + " | ".join(f"{s}×: median / p95 ms" for s in args.scales) + " |")
    print("|---|" + "---|" * len(args.scales))
    for i, name in enumerate(results[args.scales[0]]):
        cells = []
        for scale in args.scales:
            median, p95 = list(results[scale].values())[i]
            cells.append(f"{median:.0f} / {p95:.0f}")
        print(f"| {name.replace(str(args.scales[0]) + 'M', 's·1M')} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
