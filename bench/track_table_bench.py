"""Runs table benchmark: `POST /api/track/table` and `GET /api/track/attributes` through HTTP against `neon up`,
at 1× and 10× the runs.

    uv run python bench/track_table_bench.py                 # scales 1 and 10
    uv run python bench/track_table_bench.py --scales 1      # one scale

Data, per scale s: s × 10,000 runs, each with 1,000 attributes: 898 configs (`config/p000`…: 80% float, 10% int,
10% string of 5 values), `sys/name`, `sys/creation_time`, and 100 float series summaries (`metrics/m00`…).
Written with ClickHouse's own `INSERT … SELECT FROM numbers()` into the stopped server's store (the
materialized views keep the by-path copies and the path catalogue, as they do for writes through the API).
Each call is repeated; the table reports the median and p95 in milliseconds as an HTTP client sees them.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import read_timing
from ingest_bench import Server

REPEATS = 9
RUNS_PER_SCALE = 10_000
CONFIGS = 898
SERIES = 100

GENERATE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from neon_server.runtime import open_services
    from neon_server.settings import Settings
    home, runs, configs, series = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    services = open_services(Settings(home=home))
    project = services.projects.by_name("default").id
    db = services.analytics
    T0 = 1_760_000_000_000
    started = time.perf_counter()
    db.command(
        "INSERT INTO track_runs (project_id, run_id, short_id, experiment_name, created_at, version) "
        "SELECT {p:String}, concat('run-', leftPad(toString(number), 6, '0')), "
        "concat('NEON-', toString(number + 1)), concat('exp-', toString(number % 50)), "
        "fromUnixTimestamp64Milli(toInt64({t0:Int64} + number * 1000), 'UTC'), 1 "
        "FROM numbers({n:UInt64})", tag="bench.runs", params={"p": project, "n": runs, "t0": T0})
    db.command(
        "INSERT INTO track_attributes (project_id, run_id, path, type, string_value, datetime_value, updated_at, "
        "version) SELECT {p:String}, concat('run-', leftPad(toString(intDiv(number, 2)), 6, '0')), "
        "if(number % 2 = 0, 'sys/name', 'sys/creation_time'), if(number % 2 = 0, 'string', 'datetime'), "
        "if(number % 2 = 0, concat('exp-', toString(intDiv(number, 2) % 50)), ''), "
        "fromUnixTimestamp64Milli(toInt64({t0:Int64} + intDiv(number, 2) * 1000), 'UTC'), "
        "fromUnixTimestamp64Milli(toInt64({t0:Int64}), 'UTC'), 1 FROM numbers({n:UInt64})",
        tag="bench.sys", params={"p": project, "n": runs * 2, "t0": T0})
    chunk = max(1, 10_000_000 // configs)
    for first in range(0, runs, chunk):
        n = min(chunk, runs - first)
        db.command(
            "INSERT INTO track_attributes (project_id, run_id, path, type, float_value, int_value, string_value, "
            "updated_at, version) SELECT {p:String}, "
            "concat('run-', leftPad(toString({first:UInt64} + intDiv(number, {c:UInt64})), 6, '0')), "
            "concat('config/p', leftPad(toString(number % {c:UInt64}), 3, '0')) AS path, "
            "multiIf(number % {c:UInt64} % 10 = 0, 'string', number % {c:UInt64} % 10 = 1, 'int', 'float'), "
            "(cityHash64(number + {first:UInt64} * {c:UInt64}) % 100000) / 1e5, "
            "toInt64(cityHash64(number + 7) % 64), concat('v', toString(cityHash64(number + 3) % 5)), "
            "fromUnixTimestamp64Milli(toInt64({t0:Int64}), 'UTC'), 1 FROM numbers({n:UInt64})",
            tag="bench.configs", params={"p": project, "first": first, "c": configs, "n": n * configs, "t0": T0})
        db.command(
            "INSERT INTO track_series (project_id, run_id, path, type, count, finite_count, first_step, last_step, "
            "last_value, min_value, max_value, mean_value, sum_sq_dev, first_time, last_time, version) "
            "SELECT {p:String}, "
            "concat('run-', leftPad(toString({first:UInt64} + intDiv(number, {s:UInt64})), 6, '0')), "
            "concat('metrics/m', leftPad(toString(number % {s:UInt64}), 2, '0')), 'floatSeries', 1000, 1000, 0, 999, "
            "(cityHash64(number + {first:UInt64} * {s:UInt64}) % 100000) / 1e5 AS v, v / 2, "
            "v + (cityHash64(number) % 1000) / 1e3, "
            "v * 0.75, 10, fromUnixTimestamp64Milli(toInt64({t0:Int64}), 'UTC'), "
            "fromUnixTimestamp64Milli(toInt64({t0:Int64} + 999000), 'UTC'), 1 FROM numbers({n:UInt64})",
            tag="bench.series", params={"p": project, "first": first, "s": series, "n": n * series, "t0": T0})
    print(f"generated {runs} runs in {time.perf_counter() - started:.0f} s", flush=True)
    services.close()
""")

COLUMNS = ([{"path": f"config/p{i:03d}"} for i in range(0, 100, 10)]
           + [{"path": f"metrics/m{i:02d}", "aggregate": a} for i, a in zip(range(0, 100, 10), 5 * ["last", "max"],
                                                                            strict=True)])


def timed(call: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, float]:
    return read_timing.timed(call, repeats)


def measure(scale: int) -> dict[str, tuple[float, float]]:
    server = Server({})
    try:
        server.stop()
        subprocess.run([sys.executable, "-c", GENERATE, str(server.home), str(scale * RUNS_PER_SCALE),
                        str(CONFIGS), str(SERIES)], check=True)
        server = Server.reuse(server.home, {})
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.key}"}, timeout=120)
        runs = scale * RUNS_PER_SCALE

        def table(body: dict[str, Any], rows: int | None = 100) -> dict[str, Any]:
            answer = client.post("/api/track/table", json=body)
            answer.raise_for_status()
            out: dict[str, Any] = answer.json()
            if rows is not None:
                assert len(out["rows"]) == rows, answer.text[:300]
            return out

        def names(params: dict[str, Any], expect: int) -> None:
            answer = client.get("/api/track/attributes", params=params)
            answer.raise_for_status()
            assert len(answer.json()["attributes"]) == expect, answer.text[:300]

        plain = {"columns": COLUMNS, "limit": 100}
        filtered = {"columns": COLUMNS, "limit": 100, "query": '`config/p001`:int >= "32" AND `config/p002` > "0.5"',
                    "sort": [{"path": "metrics/m07", "aggregate": "max", "direction": "desc"}]}
        second = {**filtered, "after": table(filtered)["next_cursor"]}
        grouped = {"columns": COLUMNS, "group_by": ["config/p010", "config/p020"]}
        group = table(grouped, None)["groups"][0]["key"]
        in_group = {**grouped, "group": group, "sort": [{"path": "metrics/m03", "aggregate": "last"}]}
        assert table(plain)["total"] == runs
        return {
            "plain page: 100 rows × 20 columns, newest first": timed(lambda: table(plain)),
            "NQL filter + sort by max(metrics/m07), 100 rows × 20 columns": timed(lambda: table(filtered)),
            "the same, second page (cursor)": timed(lambda: table(second)),
            "group by 2 attributes (25 groups), 20 columns' mean/std/min/max": timed(lambda: table(grouped, 0)),
            "one group's runs, sorted by a series": timed(lambda: table(in_group)),
            "attribute search: regex `p1[0-4]` (50 of 1,000 names)": timed(
                lambda: names({"regex": "p1[0-4]", "limit": 100}, 50)),
            "attribute search: every name, first 100": timed(lambda: names({"limit": 100}, 100)),
        }
    finally:
        server.cleanup()


def main() -> None:
    read_timing.run_scales(__doc__, measure, lambda s: f"{s * RUNS_PER_SCALE:,} runs")


if __name__ == "__main__":
    main()
