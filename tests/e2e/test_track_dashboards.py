"""Saved views, dashboards and reports in headless Chromium against a real `neon up`, over the sweep the
unmodified neptune-scale client logs for the Track screens' tests (the `server` fixture of test_track_ui)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e import test_track_ui
from tests.e2e.test_track_ui import TrackServer, open_table, run_rows

server = test_track_ui.server  # its module-scoped fixture: the sweep is logged once for this module

pytestmark = pytest.mark.slow


def run_ids(page: Page) -> list[str]:
    return [str(r.get_attribute("data-run-id")) for r in run_rows(page).all()]


def test_a_saved_view_comes_back_after_a_reload_with_its_rows_and_columns(browser_page: Page,
                                                                          server: TrackServer) -> None:
    page = browser_page
    open_table(page, server, '?q=config/optimizer == "adam"&col=config/lr&col=train/loss~min&sort=config/lr~~asc')
    expect(page.get_by_test_id("runs-total")).to_have_text("5 runs")
    saved_rows = run_ids(page)
    page.get_by_test_id("views-button").click()
    views = page.get_by_role("dialog", name="Saved views")
    views.get_by_label("View name").fill("adam by lr")
    views.get_by_role("button", name="Save view").click()
    expect(page.get_by_test_id("views-button")).to_contain_text("View: adam by lr")
    assert "view=view_" in page.url

    # another state, a reload: the view is still there and applies query, columns and sort
    page.goto(f"{server.url}/track?col=sys/owner")
    expect(page.get_by_test_id("runs-total")).to_have_text("7 runs")
    page.reload()
    expect(page.locator(".column-head[data-column='config/lr']")).to_have_count(0)
    page.get_by_test_id("views-button").click()
    page.get_by_role("button", name="Apply view adam by lr").click()
    expect(page.get_by_test_id("runs-total")).to_have_text("5 runs")
    expect(page.locator(".column-head")).to_have_count(2)
    expect(page.locator(".column-head[data-column='config/lr']")).to_have_attribute("aria-sort", "ascending")
    expect(page.locator(".column-head[data-column='train/loss']")).to_be_visible()
    expect(page.get_by_label("Aggregate of train/loss")).to_have_value("min")
    assert run_ids(page) == saved_rows
    expect(page.get_by_label("NQL query")).to_have_value('config/optimizer == "adam"')

    # a link of just the view opens it; a name already taken is refused; update and delete
    view_id = page.url.split("view=")[1].split("&")[0]
    page.goto(f"{server.url}/track?view={view_id}")
    expect(page.get_by_test_id("runs-total")).to_have_text("5 runs")
    expect(page.locator(".column-head")).to_have_count(2)
    page.get_by_role("button", name="+ attribute").click()
    page.get_by_label("Group by attribute").select_option("config/lr")
    expect(page.get_by_test_id("views-button")).to_contain_text("(changed)")
    page.get_by_test_id("views-button").click()
    views.get_by_label("View name").fill("adam by lr")
    views.get_by_role("button", name="Save view").click()
    expect(views.get_by_role("alert")).to_contain_text("already exists")
    views.get_by_role("button", name="Update view adam by lr").click()
    expect(page.get_by_test_id("views-button")).not_to_contain_text("(changed)")
    page.reload()
    page.get_by_test_id("views-button").click()
    views.get_by_role("button", name="Apply view adam by lr").click()
    expect(page.locator(".group-row")).to_have_count(3)  # the update kept the grouping: lr 0.001, 0.005, 0.01
    page.get_by_test_id("views-button").click()
    views.get_by_role("button", name="Delete view adam by lr").click()
    expect(views.locator("li[data-view]")).to_have_count(0)


RUNS = ["adam-lr0.01-s1", "adam-lr0.01-s2", "sgd-lr0.1-s1"]


def select_runs(page: Page, server: TrackServer) -> None:
    open_table(page, server)
    for run in RUNS:
        page.locator(f".run-row[data-run-id='{run}']").get_by_role("checkbox").check()
    expect(page.get_by_text("selected for charts")).to_contain_text(f"{len(RUNS)} selected for charts")


def block(page: Page, title: str):  # type: ignore[no-untyped-def]
    return page.locator(".grid-block", has=page.locator(".grid-block-title", has_text=title))


def expect_drawn(page: Page, title: str, lines: int = len(RUNS)) -> None:
    chart = block(page, title).locator(".runs-chart")
    expect(chart).to_have_attribute("data-drawn", "yes")
    expect(chart.locator(".runs-legend li")).to_have_count(lines)


def drag(page: Page, handle, dx: float, dy: float) -> None:  # type: ignore[no-untyped-def]
    box = handle.bounding_box()
    assert box is not None
    x, y = box["x"] + min(40, box["width"] / 2), box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y + dy, steps=12)
    page.mouse.up()


def add_block(page: Page, section: str, title: str, metric: str) -> None:
    """A line chart of one metric, made in the chart builder."""
    page.get_by_role("button", name=f"Add block to {section}").click()
    builder = page.get_by_role("dialog", name="Chart builder")
    builder.get_by_label("Title", exact=True).fill(title)
    builder.get_by_label("Find metrics (regex)").fill(f"^{metric}$")
    builder.get_by_label(metric, exact=True).check()
    expect(builder.get_by_label("Preview").locator(".runs-chart")).to_have_attribute("data-drawn", "yes")
    builder.get_by_role("button", name="Add block").click()
    expect(builder).to_have_count(0)


def test_a_dashboard_is_built_saved_reloaded_and_versioned(browser_page: Page, server: TrackServer) -> None:
    page = browser_page
    select_runs(page, server)
    page.get_by_role("navigation", name="Track").get_by_role("link", name="Dashboards").click()
    page.get_by_label("Dashboard name").fill("Sweep overview")
    page.get_by_role("button", name="New dashboard").click()
    expect(page.get_by_test_id("dashboard-version")).to_contain_text("version 1")
    expect(page.get_by_role("list", name="Runs in view").locator("li")).to_have_count(len(RUNS))

    adding = page.get_by_role("form", name="Add section")
    adding.get_by_label("New section title").fill("Losses")
    adding.get_by_role("button", name="Add section").click()
    add_block(page, "Losses", "Loss", "train/loss")
    expect_drawn(page, "Loss")
    add_block(page, "Losses", "Accuracy", "val/acc")
    expect_drawn(page, "Accuracy")
    loss, acc = block(page, "Loss"), block(page, "Accuracy")
    expect(loss).to_have_attribute("data-layout", "0,0,6,7")
    expect(acc).to_have_attribute("data-layout", "0,7,6,7")

    # move Accuracy up beside Loss, by its title bar; then make Loss two rows taller by its corner
    loss_box, acc_box = loss.bounding_box(), acc.bounding_box()
    assert loss_box is not None
    assert acc_box is not None
    drag(page, acc.locator(".grid-block-head"), loss_box["width"] + 10, loss_box["y"] - acc_box["y"])
    expect(acc).to_have_attribute("data-layout", "6,0,6,7")
    expect(loss).to_have_attribute("data-layout", "0,0,6,7")
    drag(page, loss.locator(".resize-handle"), 0, 2 * 50)
    expect(loss).to_have_attribute("data-layout", "0,0,6,9")
    expect(page.locator(".unsaved")).to_be_visible()
    # the keyboard moves and resizes too: Accuracy a column narrower, a column right, and back
    head = acc.locator(".grid-block-head")
    head.focus()
    head.press("Shift+ArrowLeft")
    expect(acc).to_have_attribute("data-layout", "6,0,5,7")
    head.press("ArrowRight")
    expect(acc).to_have_attribute("data-layout", "7,0,5,7")
    head.press("ArrowLeft")
    head.press("Shift+ArrowRight")
    expect(acc).to_have_attribute("data-layout", "6,0,6,7")
    expect(loss).to_have_attribute("data-layout", "0,0,6,9")

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("dashboard-version")).to_contain_text("version 2")
    expect(page.locator(".unsaved")).to_have_count(0)
    page.reload()
    expect(page.get_by_test_id("dashboard-version")).to_contain_text("version 2")
    expect(block(page, "Loss")).to_have_attribute("data-layout", "0,0,6,9")
    expect(block(page, "Accuracy")).to_have_attribute("data-layout", "6,0,6,7")
    expect_drawn(page, "Loss")

    # a dynamic section: a chart for each metric of the runs that the regex matches
    adding.get_by_label("New section title").fill("Validation and gradients")
    adding.get_by_label("dynamic: a chart for every metric matching").check()
    adding.get_by_label("Section regex").fill("^(val|grad)/")
    adding.get_by_role("button", name="Add section").click()
    dynamic = page.locator(".dash-section[data-section='Validation and gradients']")
    expect(dynamic.locator(".dynamic-note")).to_contain_text("2 metrics")
    expect(dynamic.locator(".grid-block-title")).to_have_text(["grad/norm", "val/acc"])
    for chart in dynamic.locator(".runs-chart").all():
        expect(chart).to_have_attribute("data-drawn", "yes")
    # sections collapse and are renamed
    page.get_by_role("button", name="Collapse section Losses").click()
    expect(page.locator(".dash-section[data-section='Losses'] .grid-block")).to_have_count(0)
    page.get_by_role("button", name="Expand section Losses").click()
    page.get_by_role("button", name="Rename section Losses").click()
    page.get_by_label("Section title", exact=True).fill("Training")
    page.get_by_role("button", name="Rename", exact=True).click()
    expect(page.locator(".dash-section[data-section='Training']")).to_be_visible()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("dashboard-version")).to_contain_text("version 3")

    # an old version opens in place, and can be restored as the newest
    page.get_by_role("button", name="Versions (3)").click()
    page.get_by_role("button", name="Open version 2").click()
    expect(page.get_by_test_id("dashboard-version")).to_contain_text("version 2 of 3")
    expect(page.locator(".dash-section")).to_have_count(1)
    expect(page.locator(".dash-section[data-section='Losses']")).to_be_visible()
    assert "version=2" in page.url
    page.reload()
    expect(page.locator(".dash-section")).to_have_count(1)
    page.get_by_role("button", name="Versions (3)").click()
    page.get_by_role("button", name="Restore version 2").click()
    expect(page.get_by_test_id("dashboard-version")).to_contain_text("version 4")
    expect(page.locator(".dash-section")).to_have_count(1)
    expect(block(page, "Loss")).to_have_attribute("data-layout", "0,0,6,9")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_role("heading", name="Dashboards", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Sweep overview")).to_have_count(0)


def test_a_report_opens_from_its_share_link_without_a_key(browser_page: Page, server: TrackServer) -> None:
    page = browser_page
    select_runs(page, server)
    page.goto(f"{server.url}/track/dashboards")
    page.get_by_label("Dashboard name").fill("For the report")
    page.get_by_role("button", name="New dashboard").click()
    adding = page.get_by_role("form", name="Add section")
    adding.get_by_label("New section title").fill("Results")
    adding.get_by_role("button", name="Add section").click()
    add_block(page, "Results", "Loss", "train/loss")
    page.get_by_role("button", name="Add block to Results").click()
    builder = page.get_by_role("dialog", name="Chart builder")
    builder.get_by_label("Block type").select_option("markdown")
    builder.get_by_label("Title", exact=True).fill("Findings")
    builder.get_by_label("Markdown").fill("Adam at lr 0.01 converges fastest.")
    builder.get_by_role("button", name="Add block").click()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("dashboard-version")).to_contain_text("version 2")

    page.get_by_role("button", name="Make report").click()
    expect(page.get_by_role("heading", name="For the report report")).to_be_visible()
    expect_drawn(page, "Loss")
    page.get_by_role("button", name="Share", exact=True).click()
    link = page.locator(".share-link pre").inner_text().strip()
    assert "/share/reports/neon_share_" in link

    # a fresh browser context: no key stored
    assert page.context.browser is not None
    stranger = page.context.browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        shared = stranger.new_page()
        shared.goto(link)
        expect(shared.get_by_role("heading", name="For the report report")).to_be_visible()
        expect(shared.locator(".topbar")).to_have_count(0)
        expect(shared.get_by_role("list", name="Runs in view").locator("li")).to_have_count(len(RUNS))
        expect_drawn(shared, "Loss")
        expect(block(shared, "Findings")).to_contain_text("Adam at lr 0.01 converges fastest.")
        expect(shared.get_by_role("button", name="Add block to Results")).to_have_count(0)

        page.get_by_role("button", name="Revoke link").click()
        expect(page.get_by_role("button", name="Share", exact=True)).to_be_visible()
        shared.reload()
        expect(shared.get_by_role("alert")).to_contain_text("revoked")
        expect(shared.locator(".grid-block")).to_have_count(0)
    finally:
        stranger.close()
