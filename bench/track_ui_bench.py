"""Track UI benchmark: charts of 20 runs × 12 metrics × 100k steps, and the runs table with 10,000 runs, measured
in headless Chromium with the page's own performance marks.

    make ui && uv run python bench/track_ui_bench.py
    uv run python bench/track_ui_bench.py --steps 10000 --runs 1000     # a smaller store

Data: 20 runs ("seed-0" … "seed-19") each logging 12 metrics (m00 … m11) of `--steps` points, with the step blocks
the writer keeps, and `--runs` more runs with 50 configs and 10 series summaries each (the runs table's rows),
written with ClickHouse's own `INSERT … SELECT` into a stopped `neon up`'s store (as the read benchmarks do),
then served by `neon up` with the built UI.

Measured, each a median / p95 over repeats:
- the charts view of the 20 runs (`/track/charts?run=…`): navigation → the 12th chart drawn (all 12 in a tall
  window) and → the charts in a 1440 × 900 window drawn (the others wait until scrolled to);
- a zoom: a drag over a chart's middle third → the chart redrawn from the re-fetched window (mouse up → its
  performance mark);
- the runs table (`/track`): navigation → the first rows, then scrolling the whole table (keyset pages load as it
  goes) 120 px per animation frame: frame intervals and the share of frames over 50 ms.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).parent))
import track_fill
from ingest_bench import Server
from track_table_bench import GENERATE
from ui_bench import CHROMIUM_ARGS, mark, measured_table, stats

ROOT = Path(__file__).resolve().parents[1]
RUNS = 20
METRICS = [f"m{i:02d}" for i in range(12)]
REPEATS = 7

CHARTS_DRAWN = "(n) => document.querySelectorAll('.runs-chart[data-drawn=\"yes\"]').length >= n"
MARKS = "(name) => performance.getEntriesByName(name).map((e) => e.startTime)"
SCROLL = """async () => {
  const body = document.querySelector('.runs-scroll');
  const frames = [];
  let last = performance.now();
  let still = 0;
  // to the end: keyset pages load as the table nears its last row, so wait a while at the bottom for more
  while (still < 120) {
    const before = body.scrollTop;
    body.scrollTop += 120;
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const now = performance.now();
    frames.push(now - last);
    last = now;
    still = body.scrollTop === before ? still + 1 : 0;
  }
  return { frames: frames.slice(0, frames.length - still), rows: Number(body.getAttribute('aria-rowcount')) };
}"""


def charts(page: Page, url: str, tall: bool) -> float:
    """ms from navigation to the last chart in view drawn (all 12 when the window is tall)."""
    page.set_viewport_size({"width": 1440, "height": 4000 if tall else 900})
    runs = "&".join(f"run=seed-{i}" for i in range(RUNS))
    page.goto(f"{url}/track/charts?{runs}")
    page.wait_for_selector(".runs-chart", timeout=60_000)
    in_view = page.evaluate("""() => [...document.querySelectorAll('.runs-chart')]
        .filter((c) => c.getBoundingClientRect().top < window.innerHeight).length""")
    page.wait_for_function(CHARTS_DRAWN, arg=in_view, timeout=60_000)
    drawn = sorted(page.evaluate(MARKS, "neon:track-chart"))
    assert len(drawn) >= in_view, (drawn, in_view)
    return drawn[in_view - 1]


def zoom(page: Page) -> float:
    """ms from the mouse up of a drag over the first chart's middle third to that chart drawn again."""
    chart = page.locator(".runs-chart").first
    over = chart.locator(".u-over")
    box = over.bounding_box()
    assert box is not None
    before = len(page.evaluate(MARKS, "neon:track-chart"))
    page.evaluate("() => window.addEventListener('mouseup', () => { window.__up = performance.now() }, "
                  "{ capture: true, once: true })")
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 2 / 3, y, steps=5)
    page.mouse.up()
    page.wait_for_function("(n) => performance.getEntriesByName('neon:track-chart').length > n", arg=before,
                           timeout=30_000)
    after = page.evaluate(MARKS, "neon:track-chart")
    return float(after[before] - page.evaluate("window.__up"))


def table(page: Page, url: str) -> tuple[float, dict[str, Any]]:
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{url}/track")
    first = mark(page, "neon:track-rows", timeout=60)
    result: dict[str, Any] = page.evaluate(SCROLL)
    return first, result


def measure(url: str, key: str, repeats: int) -> list[str]:
    rows: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                    args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{url}/#key={key}")
        page.wait_for_function("() => localStorage.length > 0 && !window.location.hash.includes('key=')")
        charts(page, url, tall=True)  # warm: the server's caches, as for a view opened before
        all_drawn, in_view, zooms = [], [], []
        for _ in range(repeats):
            all_drawn.append(charts(page, url, tall=True))
            in_view.append(charts(page, url, tall=False))
            zooms.append(zoom(page))
        rows.append(f"| charts: {RUNS} runs × 12 metrics, navigation → all 12 charts drawn | {stats(all_drawn)} |")
        rows.append(f"| charts: navigation → the charts in a 1440 × 900 window drawn | {stats(in_view)} |")
        rows.append(f"| charts: zoom (drag → chart redrawn from the re-fetched window) | {stats(zooms)} |")
        firsts, p50, p95, slow, counts = [], [], [], [], []
        for _ in range(max(3, repeats // 2)):
            first, result = table(page, url)
            frames = sorted(result["frames"])
            firsts.append(first)
            p50.append(statistics.median(frames))
            p95.append(frames[int(0.95 * (len(frames) - 1))])
            slow.append(sum(f > 50 for f in frames) / len(frames) * 100)
            counts.append(result["rows"])
        rows.append(f"| runs table ({max(counts):,} runs): navigation → first rows | {stats(firsts)} |")
        rows.append(f"| runs table: scroll to the end, frame p50 / p95 (median of runs) | "
                    f"{statistics.median(p50):.1f} / {statistics.median(p95):.1f} |")
        rows.append(f"| runs table: frames over 50 ms (%) | {statistics.median(slow):.2f} |")
        browser.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100_000, help="points per metric of each charted run")
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the table")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args()
    if not (ROOT / "server/src/neon_server/ui/dist/index.html").is_file():
        sys.exit("the web UI is not built: run `make ui` first")
    server = Server({})
    try:
        server.stop()
        started = time.perf_counter()
        track_fill.fill(server.home, big=0, each=args.steps, many=RUNS, paths=METRICS, blocks=True)
        subprocess.run([sys.executable, "-c", GENERATE, str(server.home), str(args.runs), "50", "10"], check=True)
        print(f"store filled in {time.perf_counter() - started:.0f} s", flush=True)
        table_rows = measured_table(server.home, lambda url, key: measure(url, key, args.repeats))
        print(f"\n{RUNS} runs × {len(METRICS)} metrics × {args.steps:,} steps; {args.runs:,} more runs in the table")
        print("\n".join(table_rows))
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
