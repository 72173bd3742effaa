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

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import read_timing
import track_fill
from ingest_bench import Server

REPEATS = 15
MANY_RUNS = 100


def timed(call: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, float]:
    return read_timing.timed(call, repeats)


def measure(scale: int) -> dict[str, tuple[float, float]]:
    server = Server({})
    try:
        server.stop()
        track_fill.fill(server.home, big=scale * 1_000_000, each=scale * 100_000, many=MANY_RUNS,
                        paths=["train/loss"], blocks=True)
        server = Server.reuse(server.home, {})
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.key}"}, timeout=120)

        def buckets(body: dict[str, object]) -> None:
            answer = client.post("/api/track/buckets", json=body)
            assert read_timing.parsed(answer)["series"][0]["buckets"], answer.text[:200]

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
    read_timing.run_scales(__doc__, measure)


if __name__ == "__main__":
    main()
