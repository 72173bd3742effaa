"""neptune-query against `neon up`: what reading costs through Neptune's read protocol, at 1× and 10× the data.

    uv run python bench/neptune_query_bench.py                 # scales 1 and 10
    uv run python bench/neptune_query_bench.py --scales 1      # one scale

Data, per scale s: one run ("big") with one metric of s × 100k points, and s × 1,000 runs each with a config
(`config/lr`) and a float series summary (`loss`), written with ClickHouse's own `INSERT … SELECT FROM numbers()`
into the stopped server's store (the read protocol reads only the analytics store). The unmodified neptune-query
1.14 then runs in its own process (its client cache warm: the API-key exchange is not timed) and each call is
timed as the user sees it, median of REPEATS.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ingest_bench import Server

REPEATS = 5

GENERATE = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from neon_server.domain.track import RunCreate
    from neon_server.runtime import open_services
    from neon_server.settings import Settings
    home, points, runs = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    services = open_services(Settings(home=home))
    project = services.projects.by_name("default").id
    asyncio.run(services.track.create_run(project, RunCreate("big", experiment_name="bench")))
    db = services.analytics
    p = {"p": project, "n": points, "runs": runs}
    db.command(
        "INSERT INTO track_float_points (project_id, run_id, path, step, time, value, preview, ratio, version) "
        "SELECT {p:String}, 'big', 'train/loss', toFloat64(number), "
        "fromUnixTimestamp64Milli(toInt64(1760000000000 + number * 100), 'UTC'), "
        "exp(-number / {n:Float64}) + (cityHash64(number) % 1000) / 1e4, false, 1, 1 FROM numbers({n:UInt64})",
        tag="bench.fill", params=p)
    db.command(  # its summary, as the writer keeps it (listings and tables read summaries, not points)
        "INSERT INTO track_series (project_id, run_id, path, type, count, finite_count, first_step, last_step, "
        "last_value, min_value, max_value, mean_value, sum_sq_dev, last_time, version) "
        "SELECT {p:String}, 'big', 'train/loss', 'floatSeries', count(), count(), min(step), max(step), "
        "argMax(value, step), min(value), max(value), avg(value), varPop(value) * count(), max(time), 1 "
        "FROM track_float_points WHERE project_id = {p:String} AND run_id = 'big'", tag="bench.summary", params=p)
    db.command(
        "INSERT INTO track_runs (project_id, run_id, short_id, experiment_name, family, created_at, version) "
        "SELECT {p:String}, concat('r-', toString(number)), concat('NEON-', toString(number + 2)), "
        "concat('exp-', toString(number)), concat('r-', toString(number)), "
        "fromUnixTimestamp64Milli(toInt64(1760000000000 + number * 1000), 'UTC'), 1 FROM numbers({runs:UInt64})",
        tag="bench.runs", params=p)
    for path, kind, column, value in [
            ("sys/id", "string", "string_value", "concat('NEON-', toString(number + 2))"),
            ("sys/custom_run_id", "string", "string_value", "concat('r-', toString(number))"),
            ("sys/name", "string", "string_value", "concat('exp-', toString(number))"),
            ("config/lr", "float", "float_value", "(number % 100) / 1000"),
            ("sys/creation_time", "datetime", "datetime_value",
             "fromUnixTimestamp64Milli(toInt64(1760000000000 + number * 1000), 'UTC')")]:
        db.command(
            f"INSERT INTO track_attributes (project_id, run_id, path, type, {column}, updated_at, version) "
            f"SELECT {{p:String}}, concat('r-', toString(number)), '{path}', '{kind}', {value}, now64(3), 1 "
            "FROM numbers({runs:UInt64})", tag="bench.attributes", params=p)
    db.command(
        "INSERT INTO track_series (project_id, run_id, path, type, count, finite_count, first_step, last_step, "
        "last_value, min_value, max_value, mean_value, sum_sq_dev, last_time, version) "
        "SELECT {p:String}, concat('r-', toString(number)), 'loss', 'floatSeries', 100, 100, 0, 99, "
        "(cityHash64(number) % 1000) / 1000, 0, 1 + (number % 7), 0.5, 1, now64(3), 1 FROM numbers({runs:UInt64})",
        tag="bench.series", params=p)
    services.close()
""")

CLIENT = textwrap.dedent("""
    import json, statistics, sys, time
    import neptune_query as nq, neptune_query.runs as nq_runs
    from neptune_query.filters import Attribute, Filter
    repeats = int(sys.argv[1])
    def timed(call):
        times, result = [], None
        for _ in range(repeats):
            started = time.perf_counter()
            result = call()
            times.append((time.perf_counter() - started) * 1000)
        return round(statistics.median(times), 1), result
    nq_runs.list_runs(runs=["big"])  # the API-key exchange, once
    out = {}
    ms, df = timed(lambda: nq_runs.fetch_metrics(runs=["big"], attributes=["train/loss"]))
    out["fetch_metrics, every point"] = (ms, len(df))
    ms, df = timed(lambda: nq_runs.fetch_metrics(runs=["big"], attributes=["train/loss"], tail_limit=1000))
    out["fetch_metrics, tail_limit=1000"] = (ms, len(df))
    ms, df = timed(lambda: nq.fetch_metric_buckets(experiments=["bench"], y=["train/loss"], limit=1000))
    out["fetch_metric_buckets, 1000 buckets"] = (ms, len(df))
    query = Filter.gt("config/lr", 0.05) & Filter.matches("sys/custom_run_id", "^r-")
    ms, df = timed(lambda: nq_runs.fetch_runs_table(runs=query, attributes=["config/lr", "loss"],
                                                    sort_by=Attribute("loss", type="float_series"), limit=100))
    out["fetch_runs_table, NQL + sort by a series, top 100"] = (ms, len(df))
    ms, df = timed(lambda: nq_runs.fetch_runs_table(runs=query, attributes=["config/lr", "loss"],
                                                    sort_by="config/lr"))
    out["fetch_runs_table, NQL + sort, every match"] = (ms, len(df))
    ms, names = timed(lambda: nq.list_experiments())
    out["list_experiments, every experiment"] = (ms, len(names))
    import base64, os, httpx  # the server alone: the same float request as raw HTTP, without the client's parsing
    token = json.loads(base64.b64decode(os.environ["NEPTUNE_API_TOKEN"]))
    body = {"requests": [{"requestId": "0", "series": {"holder": {"identifier": "CUSTOM/bench/default/big"},
            "attribute": "train/loss", "lineage": "FULL"}}], "order": "descending", "perSeriesPointsLimit": 1000000}
    post = lambda: httpx.post(token["api_url"] + "/api/leaderboard/v1/proto/attributes/series/float", json=body,
                              headers={"Authorization": "Bearer " + token["api_key"]}, timeout=300).content
    ms, content = timed(post)
    out["server alone: every point, raw HTTP"] = (ms, len(content) // 32)
    print(json.dumps(out))
""")


def measure(scale: int) -> dict[str, list[float]]:
    server = Server({})
    try:
        server.stop()
        subprocess.run([sys.executable, "-c", GENERATE, str(server.home), str(scale * 100_000),
                        str(scale * 1_000)], check=True)
        server = Server.reuse(server.home, {})
        token = base64.b64encode(json.dumps({"api_address": server.url, "api_url": server.url,
                                             "api_key": server.key}).encode()).decode()
        env = {"NEPTUNE_API_TOKEN": token, "NEPTUNE_PROJECT": "bench/default", "PATH": "/usr/bin:/bin"}
        done = subprocess.run([sys.executable, "-W", "ignore", "-c", CLIENT, str(REPEATS)], env=env,
                              capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(done.stderr[-4000:])
        result: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
        return result
    finally:
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args()
    results = {scale: measure(scale) for scale in args.scales}
    print(f"| call | {' | '.join(f'{s}×: ms (rows)' for s in args.scales)} |")
    print(f"|---|{'---|' * len(args.scales)}")
    for call in results[args.scales[0]]:
        cells = " | ".join(f"{results[s][call][0]:,.0f} ({results[s][call][1]:,})" for s in args.scales)
        print(f"| {call} | {cells} |")


if __name__ == "__main__":
    main()
