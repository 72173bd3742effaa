"""Track formula benchmark: a formula over two long series, bucketed, through HTTP against `neon up`, at 1× and 10×.

    uv run python bench/track_formula_bench.py                 # scales 1 and 10
    uv run python bench/track_formula_bench.py --scales 1      # one scale

Data, per scale s: one run with two metrics `a` and `b` of s × 1M points each, and 10 runs with the same two
metrics of s × 100k points each, written with ClickHouse's `INSERT … SELECT FROM numbers()` into the stopped
server's store (runs created through the service first), as bench/track_read_bench.py does. Each call is
repeated; the table reports the median and p95 in milliseconds as an HTTP client sees them.
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

REPEATS = 7
GROUP_RUNS = 10


def timed(call: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, float]:
    return read_timing.timed(call, repeats)


def measure(scale: int) -> dict[str, tuple[float, float]]:
    server = Server({})
    try:
        server.stop()
        track_fill.fill(server.home, big=scale * 1_000_000, each=scale * 100_000, many=GROUP_RUNS, paths=["a", "b"],
                        blocks=False)
        server = Server.reuse(server.home, {})
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.key}"}, timeout=600)

        def formula(body: dict[str, Any]) -> None:
            answer = client.post("/api/track/formula", json=body)
            found = read_timing.parsed(answer)
            first = (found["runs"] or found["groups"])[0]
            assert first["buckets"]["index"] or first["points"], answer.text[:300]

        big = {"runs": ["big"], "buckets": 1000}
        seeds = [f"seed-{i}" for i in range(GROUP_RUNS)]
        window = {"from_x": scale * 250_000.0, "to_x": scale * 260_000.0}
        group = {"groups": [{"name": "seeds", "runs": seeds}], "buckets": 1000}
        calls = [(f"ema(${{a}}, 0.1) / ${{b}}: 2 × {scale}M points → 1,000 buckets", "ema(${a}, 0.1) / ${b}", big),
                 ("ema(${a}, 0.1) / ${b}, a chart's fields (line + band)", "ema(${a}, 0.1) / ${b}",
                  {**big, "fields": ["last_x", "last_y", "min", "max"]}),
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
    read_timing.run_scales(__doc__, measure)


if __name__ == "__main__":
    main()
