"""Track's charts of many runs in headless Chromium, over the sweep the unmodified neptune-scale client logged for
the Track screens' tests (the `server` fixture of test_track_ui: 1,500 steps a run, more than a chart's buckets)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from playwright.sync_api import Page, Request, expect

from tests.e2e import test_track_ui
from tests.e2e.test_track_ui import TrackServer, chart_has_ink, open_table, run_rows

server = test_track_ui.server  # its module-scoped fixture: the sweep is logged once for this module

pytestmark = pytest.mark.slow

RUNS = ["adam-lr0.01-s1", "adam-lr0.01-s2", "sgd-lr0.1-s1"]
METRICS = ["grad/norm", "train/loss", "val/acc"]


def open_charts(page: Page, server: TrackServer, options: str = "", metrics: str = "3 metrics") -> None:
    open_table(page, server)
    page.goto(f"{server.url}/track/charts?{'&'.join(f'run={r}' for r in RUNS)}{options}")
    expect(page.get_by_test_id("charts-count")).to_have_text(metrics)


def chart(page: Page, path: str):  # type: ignore[no-untyped-def]
    return page.locator(f".runs-chart[data-path='{path}']")


def bucket_requests(page: Page) -> list[dict[str, Any]]:
    """The bodies of the chart buckets requests the page sends from now on."""
    bodies: list[dict[str, Any]] = []

    def seen(request: Request) -> None:
        if request.url.endswith("/api/track/buckets") and request.method == "POST":
            bodies.append(json.loads(request.post_data or "{}"))

    page.on("request", seen)
    return bodies


def tick(page: Page, label: str) -> None:
    """Tick a view option as a user does: click, then see the box ticked. (The box follows the address, which
    updates after the click's handler; Playwright's check() looks at the box at once and may see it unticked.)"""
    box = page.get_by_label(label)
    box.click()
    expect(box).to_be_checked()


def asks_for(request: Request, path: str, **wanted: Any) -> bool:
    """Whether the request asks for chart buckets of `path` with these options."""
    if not (request.url.endswith("/api/track/buckets") and request.method == "POST"):
        return False
    body = json.loads(request.post_data or "{}")
    return any(s["path"] == path for s in body["series"]) and all(body.get(k) == v for k, v in wanted.items())


def canvas_pixels(page: Page, path: str) -> str:
    """A fingerprint of what the chart's canvas holds (its pixels as a data URL)."""
    return str(chart(page, path).locator("canvas").evaluate("c => c.toDataURL()"))


def wait_redrawn(page: Page, path: str, before: str) -> None:
    page.wait_for_function("([path, before]) => { const c = document.querySelector("
                           "`.runs-chart[data-path='${path}'] canvas`); return c && c.toDataURL() !== before }",
                           arg=[path, before])


def test_the_selected_runs_open_one_chart_per_metric_with_a_line_per_run(browser_page: Page,
                                                                         server: TrackServer) -> None:
    page = browser_page
    open_table(page, server, "?sort=sys/custom_run_id~~asc")
    expect(run_rows(page)).to_have_count(7)
    for run in RUNS:
        page.locator(f".run-row[data-run-id='{run}']").get_by_role("checkbox").check()
    requests = bucket_requests(page)
    page.get_by_role("link", name="Charts").click()
    expect(page.get_by_role("heading", name="Charts 3 runs")).to_be_visible()
    expect(page.get_by_test_id("charts-count")).to_have_text("3 metrics")
    for path in METRICS:
        expect(chart(page, path)).to_have_attribute("data-drawn", "yes")
        expect(chart(page, path).locator(".runs-legend .legend-name")).to_have_text(RUNS)
        assert chart_has_ink(page, path), path
    # a run keeps its colour: the legend's swatch is the table's
    colour = chart(page, "train/loss").locator(".runs-legend li[data-run-id='sgd-lr0.1-s1'] .run-swatch").evaluate(
        "e => getComputedStyle(e).backgroundColor")
    # the charts coming into view together ask in one request, every run × metric once, with the cheap fields
    asked = [(s["run_id"], s["path"]) for body in requests for s in body["series"]]
    assert sorted(asked) == sorted((run, path) for run in RUNS for path in METRICS)
    assert len(requests) < len(METRICS)
    for body in requests:
        assert body["fields"] == ["last_x", "last_y", "min", "max"]
        assert body["x"] == "step"
    expect(chart(page, "train/loss").locator(".chart-resolution")).to_contain_text("buckets")
    expect(chart(page, "val/acc").locator(".chart-resolution")).to_have_text("45 points, exact")  # 15 a run

    page.get_by_label("Find metrics").fill("^(train|grad)/")
    expect(page.locator(".runs-chart")).to_have_count(2)
    expect(page.get_by_test_id("charts-count")).to_have_text("2 of 3 metrics")
    assert "run=adam-lr0.01-s1" in page.url  # the address keeps the runs

    page.get_by_role("link", name="← Runs").click()
    row = page.locator(".run-row[data-run-id='sgd-lr0.1-s1']")
    assert row.locator(".run-swatch").evaluate("e => getComputedStyle(e).backgroundColor") == colour


def test_smoothing_draws_an_ema_over_the_line_and_its_weight_changes_it(browser_page: Page,
                                                                        server: TrackServer) -> None:
    page = browser_page
    open_charts(page, server)
    loss = chart(page, "grad/norm")
    expect(loss).to_have_attribute("data-drawn", "yes")
    value = loss.locator(".runs-legend li[data-run-id='sgd-lr0.1-s1'] .legend-value")
    expect(value).not_to_have_text("–")
    raw = value.inner_text()
    before = canvas_pixels(page, "grad/norm")
    page.get_by_label("Smoothing", exact=True).select_option("ema")
    expect(value).not_to_have_text(raw)  # the last value of the smoothed line, not of the raw one
    smoothed = value.inner_text()
    wait_redrawn(page, "grad/norm", before)
    assert "smooth=0.9" in page.url
    page.get_by_label("Smoothing weight").fill("0.5")
    expect(page.locator(".smoothing-weight")).to_have_text("0.50")
    expect(value).not_to_have_text(smoothed)
    page.get_by_label("Smoothing", exact=True).select_option("none")
    expect(value).to_have_text(raw)


def test_log_scales_and_the_x_axis_redraw_the_charts(browser_page: Page, server: TrackServer) -> None:
    page = browser_page
    open_charts(page, server)
    expect(chart(page, "train/loss")).to_have_attribute("data-drawn", "yes")
    requests = bucket_requests(page)

    before = canvas_pixels(page, "train/loss")
    tick(page, "log y")
    wait_redrawn(page, "train/loss", before)
    assert "logy=1" in page.url
    assert not requests  # log y is the client's: no new request

    before = canvas_pixels(page, "train/loss")
    # the chart may redraw on its new scale before the new buckets are asked for: wait for the request itself
    with page.expect_request(lambda r: asks_for(r, "train/loss", log_x=True)):
        tick(page, "log x")
    expect(chart(page, "train/loss")).to_have_attribute("data-drawn", "yes")
    wait_redrawn(page, "train/loss", before)

    for axis in ("time", "relative"):
        before = canvas_pixels(page, "train/loss")
        with page.expect_request(lambda r, axis=axis: asks_for(r, "train/loss", x=axis)):  # type: ignore[misc]
            page.get_by_label("X axis").select_option(axis)
        wait_redrawn(page, "train/loss", before)
        assert chart_has_ink(page, "train/loss")
    assert "x=relative" in page.url


def test_dragging_a_range_fetches_that_window_and_shows_its_exact_points(browser_page: Page,
                                                                        server: TrackServer) -> None:
    page = browser_page
    open_charts(page, server, "&metrics=^train/", "1 of 3 metrics")
    loss = chart(page, "train/loss")
    expect(loss).to_have_attribute("data-drawn", "yes")
    resolution = loss.locator(".chart-resolution")
    expect(resolution).to_contain_text("buckets")
    requests = bucket_requests(page)

    box = loss.locator(".u-over").bounding_box()
    assert box
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.48, y, steps=5)
    page.mouse.up()

    expect(loss).to_have_attribute("data-zoomed", "yes")
    # about 120 steps of 1,500 a run: fewer points than buckets, so the server answers them all
    expect(resolution).to_contain_text("points, exact")
    window = [r for r in requests if r.get("from_x") is not None]
    assert len(window) == 1
    assert 500 < window[0]["from_x"] < window[0]["to_x"] < 800
    count = int(resolution.inner_text().split(" points")[0].replace(",", ""))
    steps = int(window[0]["to_x"]) - int(window[0]["from_x"])
    assert 3 * (steps - 1) <= count <= 3 * (steps + 1)
    # the legend reads the exact point under the cursor
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    expect(loss.locator(".runs-legend li").first).to_contain_text(" at ")

    loss.locator(".u-over").dblclick()
    expect(loss).to_have_attribute("data-zoomed", "no")
    expect(resolution).to_contain_text("buckets")


def test_a_group_is_charted_as_its_mean_with_a_std_band(browser_page: Page, server: TrackServer) -> None:
    page = browser_page
    open_table(page, server, "?col=config/lr")
    page.get_by_role("button", name="+ attribute").click()
    page.get_by_label("Group by attribute").select_option("config/optimizer")
    expect(page.locator(".group-row")).to_have_count(2)
    formulas: list[dict[str, Any]] = []
    page.on("request", lambda r: formulas.append(json.loads(r.post_data or "{}"))
            if r.url.endswith("/api/track/formula") else None)
    page.get_by_role("button", name="Chart config/optimizer = sgd").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Charts config/optimizer = sgd: mean ± std of 2 runs")
    acc = chart(page, "val/acc")
    expect(acc).to_have_attribute("data-drawn", "yes")
    expect(acc.locator(".runs-legend .legend-name")).to_have_text(["config/optimizer = sgd"])
    expect(acc.locator(".chart-resolution")).to_have_text("15 points, exact")  # one line: the steps of the mean
    # val/acc at step 1400, the mean of seeds 1 and 2: 1 - (1/(1 + 140) + 0.015 + 0.02 sin(200)) / 2
    mean = 1 - (1 / (1 + 1400 * 0.1) + 0.015 + 0.02 * math.sin(200)) / 2
    expect(acc.locator(".runs-legend .legend-value")).to_have_text(f"{mean:.6g}")
    expect(chart(page, "train/loss")).to_have_attribute("data-drawn", "yes")
    assert chart_has_ink(page, "train/loss")
    body = next(f for f in formulas if f["formula"] == "mean(${train/loss})")
    assert body["groups"][0]["name"] == "config/optimizer = sgd"
    assert sorted(body["groups"][0]["runs"]) == ["sgd-lr0.1-s1", "sgd-lr0.1-s2"]
