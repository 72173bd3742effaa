"""Timing helpers shared by the read benchmarks: repeat a call, report its median and p95, print the figures as
the Markdown table that goes into bench/README.md; answers parsed as a fast client parses them."""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson


def timed(call: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median and p95 of `repeats` calls, in milliseconds as the caller waits for them."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[max(int(len(times) * 0.95) - 1, 0)]


def parsed(answer: httpx.Response) -> Any:
    """The JSON answer, raised for an error status. Parsed with orjson, about as fast as a browser's JSON.parse:
    Python's json module takes ~2.5× as long on the multi-MB answers of 100 runs (130 against 50 ms), which
    would time the client's parser more than the server."""
    answer.raise_for_status()
    return orjson.loads(answer.content)


def print_table(results: dict[int, dict[str, tuple[float, float]]], scales: list[int],
                heading: Callable[[int], str] = lambda scale: f"{scale}×") -> None:
    """| call | <scale>: median / p95 ms | … |, a row per call (named as at the first scale)."""
    print("| call | " + " | ".join(f"{heading(s)}: median / p95 ms" for s in scales) + " |")
    print("|---|" + "---|" * len(scales))
    for i, name in enumerate(results[scales[0]]):
        cells = [f"{list(results[s].values())[i][0]:.0f} / {list(results[s].values())[i][1]:.0f}" for s in scales]
        print(f"| {name} | " + " | ".join(cells) + " |")


def run_scales(doc: str | None, measure: Callable[[int], dict[str, tuple[float, float]]],
               heading: Callable[[int], str] = lambda scale: f"{scale}×") -> None:
    """A benchmark's command line: `--scales 1 10` (the default), each measured in turn, the load average
    before and after (the machines are shared), then the table."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f}", flush=True)
    results = {scale: measure(scale) for scale in args.scales}
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print_table(results, args.scales, heading)
