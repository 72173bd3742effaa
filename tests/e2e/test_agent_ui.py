"""The agent screens in a real browser, against one real `neon up` (with its Temporal dev server and worker) running
the example support agent on a stand-in model: start a run from the agent page, approve and reject refunds in the
inbox and on the run page, pause and resume a run while its tokens stream, filter the runs list, read an agent's
spec and the diff of two versions."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import yaml
from playwright.sync_api import Page, expect

from tests.e2e.agent_server import AGENTS, RUN_DONE_MS, SLOW_TEXT, AgentServer, agent_server, run_status, step
from tests.e2e.browser import connect

pytestmark = pytest.mark.slow  # one `neon up` with Temporal: about 20 s before the first test


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentServer]:
    with agent_server(tmp_path_factory.mktemp("agent-ui")) as found:
        yield found


def test_a_run_started_from_the_agent_page_shows_its_steps_and_answer(browser_page: Page,
                                                                      server: AgentServer) -> None:
    page = browser_page
    connect(page, server.url, server.key)
    page.get_by_role("link", name="Agents").click()
    page.get_by_role("link", name="support").click()
    page.get_by_label("First message").fill("Where is order A1002?")
    page.get_by_role("button", name="Start run").click()
    expect(page).to_have_url(re.compile(r"/runs/run_[a-z2-7]{26}$"))
    run_status(page).to_have_text("waiting", timeout=RUN_DONE_MS)  # answered; open for the next message
    answer = page.get_by_label("Answer")
    expect(answer).to_contain_text("Order A1002")
    lookup = step(page, "tool", "lookup_order")
    expect(lookup).to_contain_text('"A1002"')  # its arguments
    lookup.get_by_role("button", name="Result").click()  # the result, from the stored blob
    expect(lookup.locator(".blob-value")).to_contain_text("A1002")
    first_call = step(page, "llm", "gpt-4o-mini").first
    expect(first_call).to_contain_text("Let me look that order up.")
    first_call.get_by_role("button", name="Full reply").click()  # the stored reply, with the tool call it asked for
    expect(first_call.locator(".blob-value")).to_contain_text("lookup_order")
    expect(page.get_by_role("link", name=re.compile(r"^[0-9a-f]{12}…$"))).to_have_attribute(
        "href", re.compile(r"^/traces/[0-9a-f]{32}$"))

    page.get_by_label("Next message").fill("And order A1001?")
    page.get_by_role("button", name="Send").click()
    expect(answer).to_contain_text("Order A1001", timeout=RUN_DONE_MS)
    expect(page.locator(".turn-mark")).to_have_count(2)
    page.get_by_role("button", name="Close").click()
    run_status(page).to_have_text("completed", timeout=RUN_DONE_MS)
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)  # nothing left to control


def test_a_refund_waits_in_the_inbox_and_is_approved_with_a_reason(browser_page: Page, server: AgentServer) -> None:
    page = browser_page
    run_id = server.start("Please refund order A1001", multi_turn=False)
    server.wait_run(run_id, "awaiting_approval")
    connect(page, server.url, server.key)
    pending = len(server.api("GET", "/api/agent-approvals")["approvals"])
    expect(page.locator(".nav-count")).to_have_text(str(pending))
    page.get_by_role("link", name=re.compile("^Approvals")).click()
    card = page.locator(f"li.approval-card[data-run-id='{run_id}']")
    expect(card).to_contain_text("issue_refund")
    expect(card).to_contain_text("support")
    expect(card).to_contain_text("39.9")  # the arguments
    expect(card).to_contain_text("this needs a person's approval")  # what the model said
    expect(card).to_contain_text("deadline")
    card.get_by_label("Reason for issue_refund").fill("arrived broken")
    card.get_by_role("button", name="Approve").click()
    expect(card).to_have_count(0)
    if pending == 1:
        expect(page.locator(".nav-count")).to_have_count(0)

    page.goto(f"{server.url}/runs/{run_id}")
    run_status(page).to_have_text("completed", timeout=RUN_DONE_MS)
    approval = page.get_by_label("Approval of issue_refund")
    expect(approval).to_contain_text("approved")
    expect(approval).to_contain_text("arrived broken")
    expect(approval).to_contain_text(re.compile(r"by key neon_sk_"))
    expect(page.get_by_label("Answer")).to_contain_text("Done: refund R-A1001-3990")


def test_a_refund_rejected_on_the_run_page_shows_the_rejection(browser_page: Page, server: AgentServer) -> None:
    page = browser_page
    run_id = server.start("Please refund order A1003", multi_turn=False)
    connect(page, server.url, server.key)
    page.goto(f"{server.url}/runs/{run_id}")
    run_status(page).to_have_text("awaiting approval", timeout=RUN_DONE_MS)
    approval = page.get_by_label("Approval of issue_refund")
    expect(approval).to_contain_text("waiting for a decision")
    approval.get_by_label("Reason for issue_refund").fill("over the refund limit")
    approval.get_by_role("button", name="Reject").click()
    run_status(page).to_have_text("completed", timeout=RUN_DONE_MS)
    expect(approval).to_contain_text("rejected")
    expect(approval).to_contain_text("over the refund limit")
    expect(step(page, "tool", "issue_refund").locator(".step-head .status")).to_have_text("rejected")
    expect(page.get_by_label("Answer")).to_contain_text("Sorry, that did not work")


def test_a_run_is_paused_and_resumed_from_its_page_while_tokens_stream(browser_page: Page,
                                                                       server: AgentServer) -> None:
    page = browser_page
    connect(page, server.url, server.key)
    run_id = server.start("Please check order A1003 slowly")
    page.goto(f"{server.url}/runs/{run_id}")
    streaming = page.locator("li.step-llm.is-running .reply-text")
    expect(streaming).to_contain_text(re.compile(r"\w+ \w+"), timeout=RUN_DONE_MS)  # words arriving
    page.get_by_role("button", name="Pause").click()  # takes hold before the next step
    run_status(page).to_have_text("paused", timeout=RUN_DONE_MS)
    expect(step(page, "llm", "gpt-4o-mini").first).to_contain_text(SLOW_TEXT)
    expect(step(page, "tool", "lookup_order").locator(".step-head .status")).to_have_text("ok")
    expect(page.get_by_label("Answer")).to_have_count(0)  # held: the model was not asked again
    page.get_by_role("button", name="Resume").click()
    run_status(page).to_have_text("waiting", timeout=RUN_DONE_MS)
    expect(page.get_by_label("Answer")).to_contain_text("Order A1003")


def test_the_runs_list_shows_new_runs_live_and_filters_by_status_in_the_address(browser_page: Page,
                                                                                server: AgentServer) -> None:
    page = browser_page
    connect(page, server.url, server.key)
    page.get_by_role("link", name="Runs", exact=True).click()
    expect(page.get_by_label("Status")).to_have_value("")
    done = server.start("Where is order A1002?", multi_turn=False)  # started while the list is open
    waiting = server.start("Please refund order A1002", multi_turn=False)
    expect(page.locator(f"tr[data-run-id='{done}']")).to_contain_text("completed", timeout=RUN_DONE_MS)
    expect(page.locator(f"tr[data-run-id='{waiting}']")).to_contain_text("awaiting approval", timeout=RUN_DONE_MS)

    page.get_by_label("Status").select_option("awaiting_approval")
    expect(page).to_have_url(re.compile(r"status=awaiting_approval"))
    expect(page.locator(f"tr[data-run-id='{waiting}'] td.num").first).to_have_text("1")  # pending approvals
    expect(page.locator(f"tr[data-run-id='{done}']")).to_have_count(0)
    page.reload()  # the filter lives in the address
    expect(page.get_by_label("Status")).to_have_value("awaiting_approval")
    expect(page.locator(f"tr[data-run-id='{waiting}']")).to_be_visible()

    page.get_by_label("Status").select_option("completed")
    expect(page.locator(f"tr[data-run-id='{done}']")).to_be_visible()
    expect(page.locator(f"tr[data-run-id='{waiting}']")).to_have_count(0)
    rows = page.locator("table[aria-label='Agent runs'] tbody tr")
    expect(rows.filter(has_text="awaiting approval")).to_have_count(0)
    call = server.api("GET", f"/api/agent-runs/{waiting}")["approvals"][0]["call_id"]
    server.api("POST", f"/api/agent-runs/{waiting}/approvals/{call}/reject", json={"reason": "test over"})


def test_the_agent_page_shows_the_spec_and_a_diff_of_two_versions(browser_page: Page, server: AgentServer) -> None:
    page = browser_page
    spec = yaml.safe_load((AGENTS / "support.yaml").read_text())
    first = server.api("GET", "/api/agents/support")["versions"][-1]["version"]
    spec["model"]["parameters"]["temperature"] = 0.7
    spec["tools"][0]["requires_approval"] = True
    second = server.api("POST", "/api/agents", json=spec)["version"]
    connect(page, server.url, server.key)
    page.goto(f"{server.url}/agents")
    row = page.locator("tr[data-agent='support']")
    expect(row).to_contain_text(second)  # the latest version
    row.get_by_role("link", name="support").click()

    shown = page.get_by_label("Agent spec")
    expect(shown).to_contain_text("You are the support assistant of {{ company }}")
    expect(shown).to_contain_text("openai:gpt-4o-mini")
    expect(shown.locator("[data-tool='issue_refund']")).to_contain_text("requires approval")
    expect(shown.locator("[data-tool='lookup_order']")).to_contain_text("requires approval")  # in the new one
    expect(shown).to_contain_text("pii “payment-data” → redact")
    shown.locator("[data-tool='lookup_order'] summary").click()
    expect(shown.locator("[data-tool='lookup_order']")).to_contain_text("^A[0-9]{4}$")  # its schema
    page.locator(f"tr[data-version='{first}']").get_by_role("button").click()  # read the older version
    expect(page).to_have_url(re.compile(f"version={first}"))
    expect(shown.locator("[data-tool='lookup_order']")).not_to_contain_text("requires approval")

    page.get_by_role("button", name="Compare the last two versions").click()
    diff = page.get_by_label("Version diff")
    temperature = diff.locator("tr", has_text="model.parameters.temperature")
    expect(temperature).to_contain_text("changed")
    expect(temperature).to_contain_text("0.2")
    expect(temperature).to_contain_text("0.7")
    expect(diff.locator("tr", has_text="requires_approval")).to_contain_text("true")
    expect(page).to_have_url(re.compile(f"from={first}&to={second}|to={second}&from={first}"))


def test_a_run_cancelled_from_its_page_ends_cancelled(browser_page: Page, server: AgentServer) -> None:
    page = browser_page
    connect(page, server.url, server.key)
    run_id = server.start("Please refund order A1002")
    page.goto(f"{server.url}/runs/{run_id}")
    run_status(page).to_have_text("awaiting approval", timeout=RUN_DONE_MS)
    page.once("dialog", lambda dialog: dialog.accept())  # "Cancel this run now?"
    page.get_by_role("button", name="Cancel").click()
    run_status(page).to_have_text("cancelled", timeout=RUN_DONE_MS)
    expect(page.get_by_text("Run cancelled: cancelled")).to_be_visible()
    expect(page.get_by_label("Approval of issue_refund")).to_contain_text("not decided: the run ended")
    for gone in ("Pause", "Resume", "Cancel", "Approve"):  # nothing left to control or decide
        expect(page.get_by_role("button", name=gone)).to_have_count(0)
