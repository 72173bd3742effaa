"""Track's block types (line, scatter, value, table, histogram, image, markdown), the chart and formula builder and
a run's media, in headless Chromium against a real `neon up`, over runs that the unmodified neptune-scale client
logs in this test: three learning rates with two losses, a progress metric, histograms at three steps, and images
as a file series and a file attribute."""

from __future__ import annotations

import json
import math
import textwrap
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.test_neptune_scale import neptune_env
from tests.e2e.test_track_ui import TrackServer, logged_server, open_table

pytestmark = pytest.mark.slow  # one `neon up` and a neptune-scale script: about 20 s before the first test

RATES = [0.001, 0.01, 0.1]
STEPS = 120  # fewer points than a chart's buckets: the lines are the exact points, so the legend values are known
HISTOGRAM_STEPS = [0, 10, 20]

LOG = textwrap.dedent('''
    import json, math, struct, sys, zlib
    from pathlib import Path
    from neptune_scale import Run
    from neptune_scale.types import File, Histogram

    def png(width, height, pixel):
        """A PNG of RGB pixels, written by hand (no imaging library in the test environment)."""
        rows = b"".join(b"\\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height))
        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        return (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                + chunk(b"IEND", b""))

    def loss(lr, step):
        return 1 / (1 + step * lr * 10) + 0.05 * math.sin(step * 1.3)

    def main(rates, steps, histogram_steps):
        for i, lr in enumerate(rates):
            with Run(run_id=f"lr{lr}", experiment_name="blocks") as run:
                run.log_configs({"config/lr": lr, "config/layers": 2 + i})
                for step in range(steps):
                    run.log_metrics({"train/loss": loss(lr, step), "val/loss": loss(lr, step) + 0.1,
                                     "progress/tokens": 1000.0 * step * step}, step=step)
                for k, step in enumerate(histogram_steps):
                    run.log_histograms({"weights/hist": Histogram(bin_edges=[-1, -0.5, 0, 0.5, 1],
                                                                  counts=[1 + k, 5 + 2 * k, 9 - k, 2 + i])}, step=step)
                for step in range(2):
                    image = png(16, 16, lambda x, y: (x * 16, y * 16, 80 + 80 * step))
                    run.log_files({"samples/image": File(image, mime_type="image/png")}, step=step)
                picture = Path(f"picture-{i}.png")
                picture.write_bytes(png(8, 8, lambda x, y: (200, 40 * i, x * 30)))
                run.assign_files({"artifacts/picture": File(str(picture), mime_type="image/png")})

    if __name__ == "__main__":
        main(json.loads(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3]))
''')

RUNS = [f"lr{lr}" for lr in RATES]


def loss(lr: float, step: int) -> float:
    return 1 / (1 + step * lr * 10) + 0.05 * math.sin(step * 1.3)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackServer]:
    with logged_server(tmp_path_factory, "track-blocks", LOG,
                       [json.dumps(RATES), str(STEPS), json.dumps(HISTOGRAM_STEPS)], neptune_env) as logged:
        yield logged


def block(kind: str, options: dict[str, Any], title: str = "") -> dict[str, Any]:
    return {"id": f"b-{kind}", "type": kind, "title": title, "layout": {"x": 0, "y": 0, "w": 6, "h": 4},
            "options": options}


def line(metrics: list[str], title: str = "", **options: Any) -> dict[str, Any]:
    return block("line", {"metrics": metrics, "formulas": [], "x": {"kind": "step"}, "logX": False, "logY": False,
                          "smoothing": {"kind": "none"}, **options}, title)


def open_blocks(page: Page, server: TrackServer, *blocks: dict[str, Any], runs: list[str] = RUNS) -> None:
    """The charts page of `runs` with `blocks` added (as the builder adds them: in the address)."""
    open_table(page, server)
    query = [("run", r) for r in runs] + [("block", json.dumps(b)) for b in blocks]
    page.goto(f"{server.url}/track/charts?{urllib.parse.urlencode(query)}")


def added(page: Page, kind: str) -> Locator:
    return page.locator(f".added-blocks .block-view[data-block-type='{kind}']")


def legend(chart: Locator) -> Locator:
    return chart.locator(".runs-legend li")


def test_a_line_chart_draws_two_metrics_a_line_per_run_and_metric(browser_page: Page, server: TrackServer) -> None:
    page = browser_page
    open_blocks(page, server, line(["train/loss", "/^val/"]))
    chart = added(page, "line").locator(".runs-chart")
    expect(chart).to_have_attribute("data-drawn", "yes")
    names = [f"{run} · {metric}" for run in RUNS for metric in ("train/loss", "val/loss")]
    expect(chart.locator(".legend-name")).to_have_text(names)
    expect(chart.locator(".chart-resolution")).to_have_text(f"{6 * STEPS} points, exact")
    last = loss(0.1, STEPS - 1)
    expect(legend(chart).and_(page.locator("[data-run-id='lr0.1'][data-series='train/loss']"))
           .locator(".legend-value")).to_have_text(f"{last:.6g}")
    expect(legend(chart).and_(page.locator("[data-run-id='lr0.1'][data-series='val/loss']"))
           .locator(".legend-value")).to_have_text(f"{last + 0.1:.6g}")


def test_a_metric_as_the_x_axis(browser_page: Page, server: TrackServer) -> None:
    page = browser_page
    requests: list[dict[str, Any]] = []
    page.on("request", lambda r: requests.append(json.loads(r.post_data or "{}"))
            if r.url.endswith("/api/track/buckets") else None)
    open_blocks(page, server, line(["train/loss"], x={"kind": "metric", "path": "progress/tokens"}, logX=True))
    chart = added(page, "line").locator(".runs-chart")
    expect(chart).to_have_attribute("data-drawn", "yes")
    expect(chart).to_have_attribute("data-x", "progress/tokens")
    body = next(b for b in requests if b["x"] == "metric" and any(s["path"] == "train/loss" for s in b["series"]))
    assert (body["x"], body["x_path"], body["log_x"]) == ("metric", "progress/tokens", True)
    # log x leaves out x = 0 (step 0): the other steps remain
    expect(chart.locator(".chart-resolution")).to_have_text(f"{3 * (STEPS - 1)} points, exact")


def test_runs_drawn_as_a_group_give_a_mean_line_per_metric_and_formula(browser_page: Page,
                                                                       server: TrackServer) -> None:
    page = browser_page
    formulas: list[dict[str, Any]] = []
    page.on("request", lambda r: formulas.append(json.loads(r.post_data or "{}"))
            if r.url.endswith("/api/track/formula") else None)
    open_blocks(page, server, line(["train/loss"], formulas=["${train/loss} * 2"], aggregateRuns=True))
    chart = added(page, "line").locator(".runs-chart")
    expect(chart).to_have_attribute("data-drawn", "yes")
    group = "mean of 3 runs"
    expect(chart.locator(".legend-name")).to_have_text([f"{group} · train/loss", f"{group} · ${{train/loss}} * 2"])
    mean = sum(loss(lr, STEPS - 1) for lr in RATES) / 3
    expect(chart.locator(".legend-value")).to_have_text([f"{mean:.6g}", f"{2 * mean:.6g}"])
    expect(chart.locator(".chart-resolution")).to_have_text(f"{2 * STEPS} points, exact")
    assert sorted(f["formula"] for f in formulas) == ["mean(${train/loss} * 2)", "mean(${train/loss})"]
    assert all(sorted(f["groups"][0]["runs"]) == sorted(RUNS) for f in formulas)


@pytest.mark.parametrize("smoothing", [{"kind": "sma", "window": 10}, {"kind": "gaussian", "sigma": 3},
                                       {"kind": "ema", "weight": 0.8}])
def test_smoothing_changes_the_line_and_its_legend_value(browser_page: Page, server: TrackServer,
                                                         smoothing: dict[str, Any]) -> None:
    page = browser_page
    open_blocks(page, server, line(["train/loss"], title="raw"), line(["train/loss"], smoothing=smoothing))
    raw, smoothed = page.locator(".added-blocks .runs-chart").nth(0), page.locator(".added-blocks .runs-chart").nth(1)
    for chart in (raw, smoothed):
        expect(chart).to_have_attribute("data-drawn", "yes")
    raw_value = raw.locator("li[data-run-id='lr0.1'] .legend-value")
    expect(raw_value).to_have_text(f"{loss(0.1, STEPS - 1):.6g}")
    values = [loss(0.1, s) for s in range(STEPS)]
    if smoothing["kind"] == "sma":
        expected = sum(values[-10:]) / 10
    elif smoothing["kind"] == "gaussian":
        weights = [math.exp(-d * d / 18) for d in range(10)]
        expected = sum(values[-1 - d] * w for d, w in enumerate(weights)) / sum(weights)
    else:
        ema, n = 0.0, 0
        for v in values:
            ema, n = ema * 0.8 + 0.2 * v, n + 1
        expected = ema / (1 - 0.8**n)
    expect(smoothed.locator("li[data-run-id='lr0.1'] .legend-value")).to_have_text(f"{expected:.6g}")
    assert f"{expected:.6g}" != f"{values[-1]:.6g}"


def test_scatter_draws_a_point_per_run_and_hover_names_it(browser_page: Page, server: TrackServer) -> None:
    page = browser_page
    open_blocks(page, server, block("scatter", {"x": {"path": "config/lr", "aggregate": None},
                                                "y": {"path": "train/loss", "aggregate": "min"},
                                                "logX": True, "logY": False}))
    scatter = added(page, "scatter")
    expect(scatter.locator(".block-scatter")).to_have_attribute("data-drawn", "yes")
    expect(scatter.locator(".scatter-point")).to_have_count(3)
    point = scatter.locator(".scatter-point[data-run-id='lr0.01']")
    assert point.evaluate("e => getComputedStyle(e).fill") == page.locator(
        ".chart-run", has_text="lr0.01").locator(".run-swatch").evaluate("e => getComputedStyle(e).backgroundColor")
    # log x: 0.001, 0.01, 0.1 are evenly spaced
    xs = [float(scatter.locator(f".scatter-point[data-run-id='{r}']").get_attribute("cx") or 0) for r in RUNS]
    assert abs((xs[1] - xs[0]) - (xs[2] - xs[1])) < 1
    point.hover()
    best = min(loss(0.01, s) for s in range(STEPS))
    expect(scatter.locator(".scatter-hover")).to_have_text(f"lr0.01: config/lr 0.01, min(train/loss) {best:.6g}")


def test_value_and_table_show_attributes_and_aggregates_per_run(browser_page: Page, server: TrackServer) -> None:
    page = browser_page
    open_blocks(page, server,
                block("value", {"value": {"path": "config/layers", "aggregate": None}}),
                block("table", {"columns": [{"path": "config/lr", "aggregate": None},
                                            {"path": "train/loss", "aggregate": "last"},
                                            {"path": "train/loss", "aggregate": "count"}]}))
    value = added(page, "value")
    expect(value.locator(".block-value")).to_have_attribute("data-drawn", "yes")
    expect(value.locator("li .big-value")).to_have_text(["2", "3", "4"])
    table = added(page, "table")
    expect(table.locator("thead th")).to_have_text(["Run", "config/lr", "last(train/loss)", "count(train/loss)"])
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("tbody tr[data-run-id='lr0.1'] td")).to_have_text(
        ["lr0.1", "0.1", f"{loss(0.1, STEPS - 1):.6g}", f"{STEPS}"])


def test_a_histogram_at_a_step_with_its_slider(browser_page: Page, server: TrackServer) -> None:
    page = browser_page
    open_blocks(page, server, block("histogram", {"path": "weights/hist"}), runs=["lr0.01"])
    histogram = added(page, "histogram").locator(".block-histogram")
    expect(histogram).to_have_attribute("data-drawn", "yes")
    expect(histogram.locator(".step-label")).to_have_text("step 20")  # the last step first
    expect(histogram.locator(".histogram-bar")).to_have_count(4)
    heights = [float(b.get_attribute("height") or 0) for b in histogram.locator(".histogram-bar").all()]
    # counts at step 20 for the second run: [3, 9, 7, 3]
    assert heights[1] > heights[2] > heights[0] == pytest.approx(heights[3])
    histogram.get_by_label("Step of weights/hist").fill("0")
    expect(histogram.locator(".step-label")).to_have_text("step 0")
    expect(histogram).to_have_attribute("data-step", "0")
    heights = [float(b.get_attribute("height") or 0) for b in histogram.locator(".histogram-bar").all()]
    assert heights[2] > heights[1] > heights[3] > heights[0]  # [1, 5, 9, 3]


def test_an_image_of_a_file_series_and_of_a_file_attribute(browser_page: Page, server: TrackServer) -> None:
    page = browser_page
    open_blocks(page, server, block("image", {"path": "samples/image"}),
                block("image", {"path": "artifacts/picture", "run": "lr0.1"}), runs=RUNS)
    series, attribute = added(page, "image").nth(0), added(page, "image").nth(1)
    for shown in (series, attribute):
        expect(shown.locator(".block-image")).to_have_attribute("data-drawn", "yes")
        image = shown.locator("img")
        expect(image).to_be_visible()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert series.locator("img").evaluate("img => img.naturalWidth") == 16
    assert attribute.locator("img").evaluate("img => img.naturalWidth") == 8
    expect(attribute.locator(".block-image")).to_have_attribute("data-run-id", "lr0.1")
    expect(series.locator(".step-label")).to_have_text("step 1")
    before = series.locator("img").get_attribute("src")
    series.get_by_label("Step of samples/image").fill("0")
    expect(series.locator(".step-label")).to_have_text("step 0")
    expect(series.locator("img")).not_to_have_attribute("src", before or "")
    page.wait_for_function("img => img.complete && img.naturalWidth === 16", arg=series.locator("img").element_handle())


def test_markdown_is_rendered_and_html_in_it_stays_text(browser_page: Page, server: TrackServer) -> None:
    page = browser_page
    page.on("dialog", lambda d: pytest.fail(f"a script ran: {d.message}"))
    text = ("# Findings\n\nThe **higher** rate wins, *clearly*. See [the docs](https://example.org/x).\n\n"
            "- one `code`\n- two\n\n<script>alert('x')</script> <img src=x onerror=alert(1)>\n\n"
            "[bad](javascript:alert(1))")
    open_blocks(page, server, block("markdown", {"text": text}, title="Notes"))
    md = added(page, "markdown").locator(".block-markdown")
    expect(md.locator("h2")).to_have_text("Findings")
    expect(md.locator("strong")).to_have_text("higher")
    expect(md.locator("em")).to_have_text("clearly")
    expect(md.locator("a")).to_have_count(1)
    expect(md.locator("a")).to_have_attribute("href", "https://example.org/x")
    expect(md.locator("li")).to_have_text(["one code", "two"])
    expect(md.locator("code")).to_have_text("code")
    expect(md).to_contain_text("<script>alert('x')</script> <img src=x onerror=alert(1)>")
    expect(md).to_contain_text("[bad](javascript:alert(1))")
    assert md.locator("script, img").count() == 0


def open_builder(page: Page, server: TrackServer) -> Locator:
    open_blocks(page, server)
    page.get_by_role("button", name="Add chart").click()
    dialog = page.get_by_role("dialog", name="Chart builder")
    expect(dialog).to_be_visible()
    return dialog


def test_the_builder_finds_metrics_by_regex_previews_them_and_adds_the_chart(browser_page: Page,
                                                                            server: TrackServer) -> None:
    page = browser_page
    dialog = open_builder(page, server)
    dialog.get_by_label("Find metrics (regex)").fill("loss$")
    matches = dialog.get_by_role("list", name="Matching metrics").locator("li")
    expect(matches).to_have_count(2)
    expect(matches).to_contain_text(["train/loss", "val/loss"])
    dialog.get_by_label("train/loss", exact=True).check()
    dialog.get_by_label("val/loss", exact=True).check()
    preview = dialog.get_by_label("Preview").locator(".runs-chart")
    expect(preview).to_have_attribute("data-drawn", "yes")
    names = [f"{run} · {metric}" for run in RUNS for metric in ("train/loss", "val/loss")]
    expect(preview.locator(".legend-name")).to_have_text(names)
    value = preview.locator("li[data-run-id='lr0.1'][data-series='train/loss'] .legend-value")
    expect(value).to_have_text(f"{loss(0.1, STEPS - 1):.6g}")
    # smoothing shows in the preview at once
    dialog.get_by_label("Smoothing kind").select_option("sma")
    dialog.get_by_label("SMA window").fill("4")
    values = [loss(0.1, s) for s in range(STEPS)]
    expect(value).to_have_text(f"{sum(values[-4:]) / 4:.6g}")
    # a regex as one entry: every metric it finds
    dialog.get_by_label("Remove val/loss").click()
    dialog.get_by_label("Find metrics (regex)").fill("^val")
    dialog.get_by_role("button", name="+ every metric matching /^val/").click()
    expect(dialog.get_by_role("list", name="Chosen metrics").locator("li")).to_have_text(["train/loss×", "/^val/×"])
    expect(preview.locator(".legend-name")).to_have_text(names)
    dialog.get_by_label("Title").fill("Losses")
    dialog.get_by_role("button", name="Add chart").click()
    expect(dialog).to_be_hidden()
    chart = added(page, "line").locator(".runs-chart")
    expect(chart).to_have_attribute("data-drawn", "yes")
    expect(chart.locator("h3")).to_have_text("Losses")
    expect(chart.locator(".legend-name")).to_have_text(names)
    expect(chart.locator("li[data-run-id='lr0.1'][data-series='train/loss'] .legend-value")).to_have_text(
        f"{sum(values[-4:]) / 4:.6g}")
    # the address keeps it: a reload shows the same chart
    page.reload()
    expect(added(page, "line").locator(".legend-name")).to_have_text(names)


def test_the_formula_editor_completes_checks_and_previews(browser_page: Page, server: TrackServer) -> None:
    page = browser_page
    dialog = open_builder(page, server)
    dialog.get_by_label("Find metrics (regex)").fill("^train/loss$")
    dialog.get_by_label("train/loss", exact=True).check()
    dialog.get_by_role("button", name="+ Formula").click()
    formula = dialog.get_by_label("Formula 1", exact=True)
    formula.click()
    # functions, then series names inside ${…}
    formula.press_sequentially("em")
    suggestions = dialog.get_by_role("listbox", name="Formula suggestions")
    expect(suggestions.get_by_role("option").first).to_contain_text("ema")
    formula.press("Tab")
    expect(formula).to_have_value("ema(")
    formula.press_sequentially("${tra")
    expect(suggestions.get_by_role("option").first).to_contain_text("train/loss")
    formula.press("Tab")
    expect(formula).to_have_value("ema(${train/loss}")
    formula.press_sequentially(", 0.5) + emaa(${val/loss}, 0.1)")
    # the server's message, and the character it names marked
    error = dialog.get_by_role("alert")
    expect(error).to_contain_text('unknown function "emaa"')
    where = dialog.get_by_label("Where the formula is wrong")
    expect(where.locator("mark")).to_have_text("e")
    assert where.inner_text().startswith("ema(${train/loss}, 0.5) + emaa")
    expect(dialog.get_by_role("button", name="Add chart")).to_be_disabled()
    # a good formula: checked, then drawn in the preview beside the metric
    formula.fill("${train/loss} * 2")
    expect(dialog.get_by_role("status")).to_contain_text("uses train/loss")
    preview = dialog.get_by_label("Preview").locator(".runs-chart")
    doubled = preview.locator("li[data-run-id='lr0.1'][data-series='${train/loss} * 2']")
    expect(doubled.locator(".legend-name")).to_have_text("lr0.1 · ${train/loss} * 2")
    expect(doubled.locator(".legend-value")).to_have_text(f"{2 * loss(0.1, STEPS - 1):.6g}")
    expect(preview.locator(".legend-name")).to_have_count(6)
    dialog.get_by_role("button", name="Add chart").click()
    expect(added(page, "line").locator("li[data-series='${train/loss} * 2']")).to_have_count(3)


def test_the_builder_makes_every_block_type(browser_page: Page, server: TrackServer) -> None:
    page = browser_page
    dialog = open_builder(page, server)
    dialog.get_by_label("Block type").select_option("scatter")
    dialog.get_by_label("X path").fill("config/lr")
    dialog.get_by_label("Y path").fill("train/loss")
    dialog.get_by_label("Y aggregate").select_option("min")
    preview = dialog.get_by_label("Preview")
    expect(preview.locator(".scatter-point")).to_have_count(3)
    dialog.get_by_label("Block type").select_option("histogram")
    dialog.get_by_label("Histogram series").select_option("weights/hist")
    expect(preview.locator(".histogram-bar")).to_have_count(4)
    dialog.get_by_label("Block type").select_option("markdown")
    dialog.get_by_label("Markdown").fill("## Notes\n<b>bold?</b>")
    expect(preview.locator(".block-markdown h3")).to_have_text("Notes")
    expect(preview.locator(".block-markdown")).to_contain_text("<b>bold?</b>")
    dialog.get_by_role("button", name="Add chart").click()
    expect(added(page, "markdown")).to_contain_text("<b>bold?</b>")


def test_a_run_page_shows_its_histograms_over_steps_and_its_files(browser_page: Page, server: TrackServer) -> None:
    page = browser_page
    open_table(page, server)
    page.goto(f"{server.url}/track/runs/lr0.1")
    histograms = page.get_by_role("region", name="Histograms")
    histogram = histograms.locator(".block-histogram")
    expect(histogram).to_have_attribute("data-drawn", "yes")
    expect(histograms.locator(".block-title")).to_have_text("weights/hist")
    expect(histogram.locator(".step-label")).to_have_text("step 20")
    histogram.get_by_label("Step of weights/hist").fill("1")
    expect(histogram.locator(".step-label")).to_have_text("step 10")
    expect(histogram.locator(".histogram-bar")).to_have_count(4)

    files = page.get_by_role("region", name="Files")
    expect(files.locator(".file-list tbody tr")).to_have_count(2)
    expect(files.locator(".file-list tr[data-path='artifacts/picture']")).to_contain_text("image/png")
    expect(files.locator(".file-list tr[data-path='samples/image']")).to_contain_text("2 files")
    images = files.locator(".block-image img")
    expect(images).to_have_count(2)
    for i in range(2):
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=images.nth(i).element_handle())
    with page.expect_download() as download:
        files.get_by_role("button", name="Download artifacts/picture").click()
    path = download.value.path()
    assert download.value.suggested_filename.endswith(".png")
    assert path.read_bytes().startswith(b"\x89PNG")
