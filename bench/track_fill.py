"""Float series written straight into a stopped `neon up`'s store, for the read benchmarks (chart buckets,
formulas): runs created through the service (so they have their identity and sys attributes), then one run
"big" with `big` points per path and `many` runs "seed-<i>" with `each` points per path, with ClickHouse's own
`INSERT … SELECT FROM numbers()`; then the series summaries and, when asked, the pre-aggregated step blocks,
computed once in SQL as the writer keeps them for points that come through the API.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from neon_server.domain.track import RunCreate
    from neon_server.runtime import open_services
    from neon_server.settings import Settings
    home, big, each, many = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    paths, with_blocks = sys.argv[5].split(","), sys.argv[6] == "1"
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
    for path, shift in zip(paths, range(0, 7 * len(paths), 7)):
        fill("big", path, big, shift)
        for i, run_id in enumerate(runs[1:]):
            fill(run_id, path, each, shift + i)
    services.analytics.command(
        "INSERT INTO track_series (project_id, run_id, path, type, count, finite_count, first_step, last_step, "
        "last_value, min_value, max_value, mean_value, sum_sq_dev, first_time, last_time, version) "
        "SELECT project_id, run_id, path, 'floatSeries', count(), count(), min(step), max(step), "
        "argMax(value, step), min(value), max(value), avg(value), varPop(value) * count(), min(time), max(time), "
        "1 FROM track_float_points GROUP BY project_id, run_id, path", tag="bench.summaries")
    if with_blocks:
        # the step blocks the writer keeps (neon_server/track/blocks.py), computed the same way in SQL
        services.analytics.command(
            "INSERT INTO track_float_blocks SELECT project_id, run_id, path, level, "
            "toInt64(floor(b4 / exp2(level - 4))) AS block, min(f), max(l), min(mn), max(mx), sum(sm), sum(fc), "
            "sum(nc), sum(pc), sum(ngc) FROM (SELECT project_id, run_id, path, toInt64(ceil(step / 16)) - 1 AS b4, "
            "min(tuple(if(isFinite(value), step, inf), value)) AS f, "
            "max(tuple(if(isFinite(value), step, -inf), value)) AS l, min(if(isFinite(value), value, inf)) AS mn, "
            "max(if(isFinite(value), value, -inf)) AS mx, "
            "sum(if(isFinite(value), value, 0)) AS sm, toUInt64(countIf(isFinite(value))) AS fc, "
            "toUInt64(countIf(isNaN(value))) AS nc, toUInt64(countIf(value = inf)) AS pc, "
            "toUInt64(countIf(value = -inf)) AS ngc FROM track_float_points GROUP BY project_id, run_id, path, b4) "
            "ARRAY JOIN [4, 6, 8, 10, 12] AS level GROUP BY project_id, run_id, path, level, block", tag="bench.blocks")
    services.close()
""")


def fill(home: Path, *, big: int, each: int, many: int, paths: list[str], blocks: bool) -> None:
    subprocess.run([sys.executable, "-c", SCRIPT, str(home), str(big), str(each), str(many), ",".join(paths),
                    "1" if blocks else "0"], check=True)
