"""Web UI benchmark: the trace list over 1M traces and a 10,000-span trace, measured in headless Chromium.

    uv run python bench/ui_bench.py                  # 1M traces (5 spans each) in one project, over 7 days
    uv run python bench/ui_bench.py --traces 200000  # a smaller store

The store is generated with ClickHouse's `INSERT … SELECT` (as in query_bench.py) and served by a real `neon up`
with the built UI (`make ui`). Times come from the page's own performance marks (navigation start → the list's
first rows rendered; → the waterfall's first and last page of spans rendered), so they include the API call,
JSON parsing and React rendering. Scrolling runs the whole 10,000-row waterfall, one step per animation frame,
and reports frame intervals. Each figure is a median (and p95) over repeated runs; the machine is shared, so
read ratios and orders of magnitude rather than single values.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).parent))
from ingest_bench import Server
from query_bench import BIG_TRACE, GENERATE

ROOT = Path(__file__).resolve().parents[1]
SPANS_PER_TRACE = 5
DAYS = 7
REPEATS = 7
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-sync"]

SCROLL = """async () => {
  const body = document.querySelector('.wf-body');
  const frames = [];
  let last = performance.now();
  const step = 120;  // px per frame: ~4 rows of 28 px, a brisk wheel scroll
  while (body.scrollTop + body.clientHeight < body.scrollHeight - 1) {
    body.scrollTop += step;
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const now = performance.now();
    frames.push(now - last);
    last = now;
  }
  return { frames, rows: document.querySelectorAll('.wf-row').length, height: body.scrollHeight };
}"""


def mark(page: Page, name: str, timeout: float = 30) -> float:
    """ms from navigation start to the page's performance mark `name` (waits for it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = page.evaluate(f"performance.getEntriesByName({json.dumps(name)}).map(e => e.startTime)")
        if found:
            return float(found[0])
        time.sleep(0.01)
    raise RuntimeError(f"no performance mark {name} after {timeout}s")


def stats(values: list[float]) -> str:
    ordered = sorted(values)
    return f"{statistics.median(ordered):.0f} / {ordered[int(0.95 * (len(ordered) - 1))]:.0f}"


def measure(url: str, key: str) -> list[str]:
    rows: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                    args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{url}/#key={key}")
        page.wait_for_selector(".trace-row", timeout=60_000)

        first_rows, filtered = [], []
        for _ in range(REPEATS):
            page.goto(f"{url}/traces")
            first_rows.append(mark(page, "neon:traces-rows"))
            page.evaluate("performance.clearMarks('neon:traces-rows')")
            started = page.evaluate("performance.now()")
            page.get_by_label("Status").select_option("error")
            filtered.append(mark(page, "neon:traces-rows") - started)
        rows.append(f"| trace list: navigation → first rows rendered | {stats(first_rows)} |")
        rows.append(f"| trace list: status filter → rows rendered | {stats(filtered)} |")

        opened, complete, frame_p50, frame_p95, slow = [], [], [], [], []
        for _ in range(REPEATS):
            page.goto(f"{url}/traces/{'b' * 32}")
            opened.append(min(mark(page, "neon:trace-first-spans"), mark(page, "neon:trace-all-spans")))
            complete.append(mark(page, "neon:trace-all-spans"))
            result: dict[str, Any] = page.evaluate(SCROLL)
            frames = sorted(result["frames"])
            frame_p50.append(statistics.median(frames))
            frame_p95.append(frames[int(0.95 * (len(frames) - 1))])
            slow.append(sum(f > 50 for f in frames) / len(frames) * 100)
        rows.append(f"| 10,000-span trace: navigation → first spans rendered | {stats(opened)} |")
        rows.append(f"| 10,000-span trace: navigation → all spans rendered | {stats(complete)} |")
        rows.append(f"| 10,000-span trace: scroll frame p50 (median of runs) | {statistics.median(frame_p50):.1f} |")
        rows.append(f"| 10,000-span trace: scroll frame p95 (median of runs) | {statistics.median(frame_p95):.1f} |")
        rows.append(f"| 10,000-span trace: frames over 50 ms (%) | {statistics.median(slow):.1f} |")
        browser.close()
    return rows


def measured_table(home: Path, measure: Callable[[str, str], list[str]]) -> list[str]:
    """The rows `measure(url, key)` gives against `neon up` started again on the filled `home`, under a header."""
    again = Server.reuse(home, {})
    try:
        return ["| measure (ms) | median / p95 |", "|---|---|", *measure(again.url, again.key)]
    finally:
        again.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=1_000_000)
    args = parser.parse_args()
    if not (ROOT / "server/src/neon_server/ui/dist/index.html").is_file():
        sys.exit("the web UI is not built: run `make ui` first")
    server = Server({})
    home = server.home
    project = httpx.get(f"{server.url}/api/project", headers={"x-api-key": server.key}).json()["id"]
    server.stop()
    try:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", BIG_TRACE, str(home / "chdb"), project], check=True)
        subprocess.run([sys.executable, "-c", GENERATE, str(home / "chdb"), project, "0",
                        str(args.traces * SPANS_PER_TRACE), str(SPANS_PER_TRACE), "1", str(DAYS)], check=True)
        print(f"{args.traces:,} traces in store ({time.perf_counter() - started:.0f} s to generate)", flush=True)
        table = measured_table(home, measure)
        print(f"\n{args.traces:,} traces ({args.traces * SPANS_PER_TRACE:,} spans) in one project, {DAYS} days")
        print("\n".join(table))
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
