"""The web UI in headless Chromium against a real `neon up` that received traces through the OTel exporter."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import ROOT, connect, require_ui
from tests.e2e.conftest import NeonProcess, free_port

SEND_ONE = """
import sys, neon
neon.configure(service_name="ui-test")
with neon.trace(sys.argv[1], input="hello live", agent_id="live-agent") as run:
    run.set_output("hi")
neon.flush()
"""


class UiServer:
    def __init__(self, process: NeonProcess, key: str) -> None:
        self.process, self.url, self.key = process, process.url, key

    def api(self, path: str, key: str | None = None, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, headers={"Authorization": f"Bearer {key or self.key}"})

    def send(self, *args: str, script: str | None = None) -> None:
        """Run an instrumented program against this server: spans go out through the real OTLP exporter."""
        env = {**os.environ, "NEON_BASE_URL": self.url, "NEON_API_KEY": self.key}
        command = [sys.executable, "-c", script, *args] if script else [sys.executable, *args]
        subprocess.run(command, env=env, check=True, cwd=ROOT, timeout=120)

    def open(self, page: Page, path: str = "/traces") -> None:
        """Connect the browser with the key (as the link `neon up` prints does), then go to `path`."""
        connect(page, self.url, self.key)
        page.goto(f"{self.url}{path}")


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    require_ui()
    home = tmp_path_factory.mktemp("ui") / "home"
    home.mkdir()
    process = NeonProcess(home, free_port())
    try:
        process.wait_healthy()
        key = json.loads((home / "credentials.json").read_text())["api_key"]
        server = UiServer(process, key)
        server.send("examples/demo_traffic.py", "--traces", "12")
        deadline = time.monotonic() + 30
        while len(server.api("/api/traces").json()["traces"]) < 14:  # 12 support turns + 2 research runs
            assert time.monotonic() < deadline, "demo traces did not arrive"
            time.sleep(0.2)
        yield server
    finally:
        process.stop()


def rows(page: Page) -> Any:
    return page.locator(".trace-row")


def test_list_filters_and_shares_them_in_the_url(ui_server: UiServer, browser_page: Page) -> None:
    page = browser_page
    ui_server.open(page)
    expect(rows(page)).to_have_count(14)
    expect(rows(page).first).to_contain_text("support-agent")
    expect(page.locator(".trace-row .score-pill").first).to_contain_text("helpfulness")

    page.get_by_label("Status").select_option("error")
    expect(rows(page)).to_have_count(1)  # turn 4 of the 12 fails (the demo fails turns where n % 9 == 4)
    expect(page).to_have_url(re.compile(r"status=error"))
    for row in rows(page).all():
        expect(row).to_contain_text("error")

    page.get_by_role("button", name="+ Filter").click()
    page.get_by_label("Filter field").select_option("agent_id")
    page.get_by_label("Filter value").fill("research-agent")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator(".empty")).to_contain_text("No traces match")
    page.get_by_label("Status").select_option("")
    expect(rows(page)).to_have_count(2)
    expect(rows(page).first).to_contain_text("research-agent")

    shared = page.url  # a view can be shared: the same URL in a new page shows the same rows
    page.goto(shared)
    expect(rows(page)).to_have_count(2)
    expect(page.locator(".chip")).to_contain_text("research-agent")
    page.get_by_role("button", name=re.compile("Remove filter Agent")).click()
    expect(rows(page)).to_have_count(14)

    matching = [t["trace_id"] for t in ui_server.api("/api/traces", search="parcel").json()["traces"]]
    assert 0 < len(matching) < 14  # the search narrows the list: its answer cannot be mistaken for the old one
    for trace_id in matching:
        root = ui_server.api(f"/api/traces/{trace_id}").json()["trace"]["root_span_id"]
        assert "parcel" in ui_server.api(f"/api/traces/{trace_id}/spans/{root}/payload").json()["input"]
    page.get_by_label("Search inputs and outputs").fill("parcel")
    page.get_by_label("Search inputs and outputs").press("Enter")
    expect(rows(page)).to_have_count(len(matching))  # the rows of the new answer, not the previous 14
    shown = rows(page).evaluate_all("rows => rows.map(r => r.dataset.traceId)")
    assert sorted(shown) == sorted(matching)
    expect(page).to_have_url(re.compile(r"search=parcel"))


def test_opening_a_trace_shows_the_waterfall_and_a_conversation(ui_server: UiServer, browser_page: Page) -> None:
    page = browser_page
    ui_server.open(page, "/traces?status=error")
    rows(page).first.click()
    expect(page).to_have_url(re.compile(r"/traces/[0-9a-f]{32}"))
    tree = page.get_by_role("tree", name="Spans")
    expect(tree.get_by_role("treeitem")).to_have_count(3)  # agent → plan (LLM), failed tool
    failed = tree.locator(".wf-row.is-error", has_text="lookup_")
    expect(failed.locator(".err-mark")).to_be_visible()
    bar = tree.locator(".wf-row", has_text="plan").locator(".wf-bar")
    assert "kind-bg-generation" in (bar.get_attribute("class") or "")

    failed.click()
    panel = page.get_by_role("complementary", name="Span details")
    expect(panel.get_by_role("alert")).to_contain_text("did not answer within 2 s")
    expect(page).to_have_url(re.compile(r"span=[0-9a-f]{16}"))

    tree.locator(".wf-row", has_text="plan").click()
    conversation = panel.locator(".conversation")
    expect(conversation.locator(".message.role-system")).to_contain_text("support agent for Acme")
    expect(conversation.locator(".message.role-user")).to_be_visible()
    expect(conversation.locator(".tool-call")).to_contain_text("lookup_")
    expect(panel).to_contain_text("Tokens")

    page.keyboard.press("Escape")
    tree.focus()
    page.keyboard.press("ArrowUp")  # keyboard moves the selection up the tree
    expect(tree.locator(".wf-row.selected")).to_contain_text("support-agent")
    tree.get_by_role("button", name="Collapse").click()
    expect(tree.get_by_role("treeitem")).to_have_count(1)


def test_a_successful_tool_call_shows_its_input_and_output(ui_server: UiServer, browser_page: Page) -> None:
    page = browser_page
    ui_server.open(page, "/traces?agent_id=research-agent")
    rows(page).first.click()
    tree = page.get_by_role("tree", name="Spans")
    tree.locator(".wf-row", has_text="fetch_incident").first.click()
    panel = page.get_by_role("complementary", name="Span details")
    expect(panel.get_by_role("heading", name="Tool input")).to_be_visible()
    expect(panel.locator(".json").nth(1)).to_contain_text("severity")


def test_live_mode_streams_a_new_trace_in(ui_server: UiServer, browser_page: Page) -> None:
    page = browser_page
    ui_server.open(page)
    expect(rows(page)).not_to_have_count(0)
    page.get_by_role("button", name="Live", exact=True).click()
    expect(page.locator(".live-dot.on")).to_be_visible()
    ui_server.send("brand-new-trace", script=SEND_ONE)
    new = page.locator(".trace-row", has_text="brand-new-trace")
    expect(new).to_be_visible(timeout=15_000)
    expect(rows(page).first).to_contain_text("brand-new-trace")
    page.get_by_role("button", name="Stop live").click()


def test_creating_and_revoking_a_key(ui_server: UiServer, browser_page: Page) -> None:
    page = browser_page
    ui_server.open(page, "/settings")
    page.get_by_label("New key name").fill("ui-test-key")
    page.get_by_role("button", name="Create key").click()
    created = page.locator(".new-key")
    expect(created).to_contain_text("shown only once")
    secret = created.locator("pre").inner_text().strip()
    assert secret.startswith("neon_sk_")
    assert ui_server.api("/api/project", key=secret).status_code == 200  # the new key works
    expect(page.locator(".copy-block", has_text="OTEL_EXPORTER_OTLP_TRACES_HEADERS")).to_contain_text(secret)

    row = page.locator(".keys-table tr", has_text="ui-test-key")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(row).to_contain_text("revoked")
    assert ui_server.api("/api/project", key=secret).status_code == 401


def test_a_new_project_gets_empty_states_and_a_bad_key_an_error(ui_server: UiServer, browser_page: Page) -> None:
    page = browser_page
    page.goto(f"{ui_server.url}/traces")
    expect(page).to_have_url(re.compile("/connect"))
    page.get_by_label("API key").fill("neon_sk_notakey")
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("alert")).to_contain_text("not accepted")

    created = subprocess.run([str(Path(sys.executable).with_name("neon")), "projects", "create", "empty-one"],
                             env={**os.environ, "NEON_HOME": str(ui_server.process.home)}, capture_output=True,
                             text=True, check=True, timeout=60)
    secret = re.search(r"neon_sk_\S+", created.stdout)
    assert secret, created.stdout
    page.get_by_label("API key").fill(secret.group(0))
    page.get_by_role("button", name="Connect").click()
    expect(page.locator(".empty")).to_contain_text("No traces yet")
    expect(page.get_by_label("Project")).to_have_value(re.compile("^prj_"))
    page.get_by_role("link", name="Setup snippets").click()
    expect(page.locator("#setup")).to_contain_text("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    page.get_by_role("link", name="Sessions").click()
    expect(page.locator(".empty")).to_contain_text("No sessions")
    page.get_by_role("link", name="Analytics").click()
    expect(page.locator(".empty")).to_contain_text("No traces in this time range")


def test_narrow_window_keeps_navigation_and_the_list(ui_server: UiServer, browser_page: Page) -> None:
    page = browser_page
    page.set_viewport_size({"width": 420, "height": 800})
    ui_server.open(page)
    expect(page.get_by_role("link", name="Analytics")).to_be_visible()
    expect(rows(page).first).to_be_visible()
    box = page.locator(".traces-table").bounding_box()
    assert box is not None
    assert box["width"] <= 420


def test_analytics_and_sessions_render_the_traffic(ui_server: UiServer, browser_page: Page) -> None:
    page = browser_page
    ui_server.open(page, "/analytics?range=1h")
    expect(page.locator(".stat").first).to_contain_text("1")
    expect(page.locator(".chart canvas")).to_have_count(5)  # volume, latency, tokens, cost, scores
    expect(page.locator(".breakdown", has_text="Latency by model")).to_contain_text("gpt-4o")
    page.get_by_role("link", name="Sessions").click()
    page.get_by_role("link", name="chat-0").click()
    expect(page.locator(".turn")).to_have_count(3)
    expect(page.locator(".turn").first.locator(".message.role-user")).to_be_visible()


def test_costs_read_right_and_a_partial_cost_is_marked(ui_server: UiServer, browser_page: Page) -> None:
    page = browser_page
    created = subprocess.run([str(Path(sys.executable).with_name("neon")), "projects", "create", "pricing-ui"],
                             env={**os.environ, "NEON_HOME": str(ui_server.process.home)}, capture_output=True,
                             text=True, check=True, timeout=60)
    found = re.search(r"neon_sk_\S+", created.stdout)
    assert found, created.stdout
    key = found.group(0)
    headers = {"Authorization": f"Bearer {key}"}
    # the project's own price makes the expected texts independent of the default price list
    put = httpx.put(f"{ui_server.url}/api/model-prices/ui-model", headers=headers,
                    json={"input": 0.15, "output": 0.6})
    assert put.status_code == 200, put.text
    start = time.time() - 60

    def llm(span_id: str, model: str, input_tokens: int, output_tokens: int) -> dict[str, Any]:
        return {"span_id": span_id, "name": span_id, "type": "generation", "model": model, "start_time": start,
                "duration_ms": 200, "input_tokens": input_tokens, "output_tokens": output_tokens}

    sent = httpx.post(f"{ui_server.url}/api/traces/ingest", headers=headers, json={"traces": [
        {"name": "tiny-cost", "start_time": start, "spans": [llm("one-token", "ui-model", 1, 0)]},
        {"name": "small-cost", "start_time": start, "spans": [llm("small", "ui-model", 100, 10)]},
        {"name": "partial-cost", "start_time": start, "spans": [
            llm("priced-call", "ui-model", 10_000, 1_000), llm("mystery-call", "mystery-llm", 100, 10)]},
    ]})
    assert sent.status_code == 200, sent.text
    assert sent.json()["rejected_spans"] == 0

    connect(page, ui_server.url, key)
    page.goto(f"{ui_server.url}/traces")
    expect(rows(page)).to_have_count(3)
    tiny = page.locator(".trace-row", has_text="tiny-cost")
    expect(tiny).to_contain_text("<$0.00001")  # $0.00000015: below the floor, never "$0.00000"
    expect(page.locator(".trace-row", has_text="small-cost")).to_contain_text("$0.000021")  # 3 significant digits
    partial = page.locator(".trace-row", has_text="partial-cost").locator(".cost-partial")
    expect(partial).to_have_text("$0.0021+")
    expect(partial).to_have_attribute("title", re.compile("some LLM calls had no known price"))
    expect(tiny.locator(".cost-partial")).to_have_count(0)
    for name in ("tiny-cost", "small-cost", "partial-cost"):  # the column shows the whole amount, not "$0.00…"
        cell = page.locator(".trace-row", has_text=name).get_by_role("cell").nth(5)
        assert cell.evaluate("e => e.scrollWidth <= e.clientWidth"), f"{name}: {cell.inner_text()} is cut"

    page.locator(".trace-row", has_text="partial-cost").get_by_role("link").click()
    header = page.locator(".trace-head")
    expect(header.locator(".cost-partial")).to_have_text("$0.0021+")
    tree = page.get_by_role("tree", name="Spans")
    tree.locator(".wf-row", has_text="mystery-call").click()
    panel = page.get_by_role("complementary", name="Span details")
    expect(panel.locator(".facts")).to_contain_text("no price")
    tree.locator(".wf-row", has_text="priced-call").click()
    expect(panel.locator(".facts")).to_contain_text("$0.0021")
