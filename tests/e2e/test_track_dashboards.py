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

