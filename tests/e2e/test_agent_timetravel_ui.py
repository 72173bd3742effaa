"""Time travel on the agent screens in a real browser, against one real `neon up` (Temporal dev server, worker, the
example support agent on a stand-in model): fork a finished run from a step with another system prompt, read the
fork's lineage, compare it with its parent (from its page and from the runs list), and step through the parent's
replay."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.agent_server import RUN_DONE_MS, AgentServer, agent_server, run_status
from tests.e2e.browser import connect

pytestmark = pytest.mark.slow  # one `neon up` with Temporal: about 20 s before the first test

TERSE = "You are Acme's terse support bot. Reply in one short line."
RUN_ID = r"run_[a-z2-7]{26}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentServer]:
    with agent_server(tmp_path_factory.mktemp("agent-timetravel-ui")) as found:
        yield found


@pytest.fixture(scope="module")
def parent(server: AgentServer) -> str:
    """A finished run with a tool call: 0 input guardrail, 1 LLM (asks for lookup_order), 2 the tool, 3 LLM (the
    answer), 4 output guardrail."""
    run_id = server.start("Where is order A1002?", multi_turn=False)
    run = server.wait_run(run_id, "completed")
    assert [(s["index"], s["kind"]) for s in run["steps"]][1:4] == [(1, "llm"), (2, "tool"), (3, "llm")], run["steps"]
    return run_id


def test_a_fork_from_step_3_with_another_prompt_shows_its_lineage_and_the_diff_with_its_parent(
        browser_page: Page, server: AgentServer, parent: str) -> None:
    page = browser_page
    connect(page, server.url, server.key)
    page.goto(f"{server.url}/runs/{parent}")
    run_status(page).to_have_text("completed", timeout=RUN_DONE_MS)
    page.locator("li[data-step-key='0.3']").get_by_role("button", name="Fork from here").click()

    dialog = page.get_by_role("dialog", name="Fork the run")
    expect(dialog.get_by_label("Fork from step")).to_have_value("3", timeout=RUN_DONE_MS)  # once the spec is read
    prompt = dialog.get_by_label("System prompt")
    expect(prompt).to_have_value(re.compile("You are the support assistant of"))  # the run's own, to edit
    expect(dialog.get_by_label("Model")).to_have_value("gpt-4o-mini")
    expect(dialog.get_by_role("checkbox", name="issue_refund")).to_be_checked()
    dialog.get_by_label("Parameters").fill("{temperature: 0")  # bad input is said in the dialog, nothing is sent
    dialog.get_by_role("button", name="Fork").click()
    expect(dialog.get_by_role("alert")).to_contain_text("Parameters are not JSON")
    dialog.get_by_label("Parameters").fill('{"temperature": 5}')  # the server refuses it, and says why
    dialog.get_by_role("button", name="Fork").click()
    expect(dialog.get_by_role("alert")).to_contain_text("temperature: must be at most 2")
    expect(page).to_have_url(re.compile(f"/runs/{parent}$"))
    dialog.get_by_label("Parameters").fill('{"max_tokens": 800, "temperature": 0.2, "seed": null}')  # the run's own
    dialog.get_by_label("Fork from step").select_option("4")
    dialog.get_by_label("Fork from step").select_option("3")
    prompt.fill(TERSE)
    dialog.get_by_role("checkbox", name="issue_refund").uncheck()  # this fork may not refund
    dialog.get_by_role("button", name="Fork").click()

    expect(page).not_to_have_url(re.compile(parent))
    expect(page).to_have_url(re.compile(f"/runs/{RUN_ID}$"))
    fork = page.url.rsplit("/", 1)[1]
    lineage = page.get_by_label("Lineage")
    expect(lineage).to_contain_text(f"Forked from {parent} at step 3")
    expect(lineage).to_contain_text(TERSE)  # the override
    expect(lineage).not_to_contain_text("parameters")  # the same values, reordered: not a change
    expect(lineage.locator("li", has_text="tools")).to_contain_text('["lookup_order","lookup_policy"]')
    run_status(page).to_have_text("completed", timeout=RUN_DONE_MS)
    expect(page.get_by_label("Answer")).to_contain_text("Order A1002")
    for key in ("0.0", "0.1", "0.2"):  # the parent's records, not run again
        expect(page.locator(f"li[data-step-key='{key}'] .reused-badge")).to_have_text("reused")
    expect(page.locator("li[data-step-key='0.3'] .reused-badge")).to_have_count(0)

    page.get_by_role("link", name="Compare with parent").click()
    expect(page).to_have_url(re.compile(f"/runs/diff\\?a={parent}&b={fork}$"))
    expect(page.get_by_label("Run A")).to_contain_text(parent, timeout=RUN_DONE_MS)  # reads both histories
    expect(page.get_by_label("Run B")).to_contain_text(fork)
    expect(page.locator(".diverged-banner")).to_contain_text(re.compile(r"Diverged at step 3: .*prompt"))
    expect(page.get_by_label("Spec changes").locator("tr", has_text="system_prompt")).to_contain_text(TERSE)
    steps = page.get_by_label("Aligned steps")
    pairs = steps.locator("li.pair")
    for same in range(3):  # the reused steps
        expect(pairs.nth(same)).to_have_attribute("data-state", "same")
    changed = pairs.nth(3)
    expect(changed).to_have_attribute("data-state", "changed")
    side_by_side = changed.get_by_label("Prompts and outputs side by side")  # the divergence opens by itself
    expect(side_by_side.locator(".pair-side").first).to_contain_text("You are the support assistant of Acme")
    expect(side_by_side.locator(".pair-side").nth(1)).to_contain_text(TERSE)
    expect(side_by_side.locator(".pair-side").nth(1)).to_contain_text("Order A1002")  # its reply
    expect(page.get_by_label("Total deltas")).to_contain_text("tokens")

    page.goto(f"{server.url}/runs/{parent}")  # the parent lists its fork
    expect(page.get_by_label("Lineage").get_by_role("link", name=fork)).to_be_visible()


def test_two_runs_picked_in_the_list_open_the_diff_view(browser_page: Page, server: AgentServer, parent: str) -> None:
    page = browser_page
    other = server.start("Please tell me your refund policy", multi_turn=False)
    server.wait_run(other, "completed")
    connect(page, server.url, server.key)
    page.goto(f"{server.url}/runs")
    compare = page.get_by_role("button", name=re.compile("^Compare"))
    expect(compare).to_be_disabled()
    page.get_by_label(f"Compare {parent}").check()
    page.get_by_label(f"Compare {other}").check()
    compare.click()
    expect(page).to_have_url(re.compile(f"/runs/diff\\?a={parent}&b={other}$"))
    expect(page.locator(".diverged-banner")).to_contain_text(re.compile(r"Diverged at step \d+"), timeout=RUN_DONE_MS)
    expect(page.locator(".diff-counts")).to_contain_text("changed")

    page.goto(f"{server.url}/runs/{other}")  # any other run, picked by id from its page
    page.get_by_role("button", name="Compare with…").click()
    page.get_by_label("Run to compare with").fill(parent)
    page.get_by_role("button", name="Compare", exact=True).click()
    expect(page).to_have_url(re.compile(f"/runs/diff\\?a={other}&b={parent}$"))
    expect(page.get_by_label("Run B")).to_contain_text(parent, timeout=RUN_DONE_MS)


def test_the_replay_steps_through_the_parent_and_shows_the_tool_result_at_its_step(
        browser_page: Page, server: AgentServer, parent: str) -> None:
    page = browser_page
    connect(page, server.url, server.key)
    page.goto(f"{server.url}/runs/{parent}")
    run_status(page).to_have_text("completed", timeout=RUN_DONE_MS)
    page.get_by_role("link", name="Replay").click()
    expect(page).to_have_url(re.compile(f"/runs/{parent}/replay"))
    expect(page.get_by_label("Determinism check")).to_contain_text("Deterministic",
                                                                   timeout=RUN_DONE_MS)  # replays the history
    position = page.get_by_test_id("replay-position")
    expect(position).to_have_text("Step 1 of 5", timeout=RUN_DONE_MS)
    expect(page.get_by_role("button", name="← Previous")).to_be_disabled()
    page.get_by_role("button", name="Next →").click()
    expect(position).to_have_text("Step 2 of 5")
    shown = page.get_by_label("Replay step")
    expect(shown.locator(".reply-text")).to_contain_text("Let me look that order up.")
    page.get_by_role("button", name="Next →").click()
    expect(position).to_have_text("Step 3 of 5")
    expect(shown.locator(".step-head")).to_contain_text("lookup_order")
    expect(shown.get_by_label("Tool result")).to_contain_text("A1002")
    expect(shown.locator(".conversation")).to_contain_text("Where is order A1002?")  # as it stood
    expect(page).to_have_url(re.compile(r"step=2$"))
    page.get_by_role("list", name="Replay steps").get_by_role("button").last.click()  # the step list jumps
    expect(position).to_have_text("Step 5 of 5")
    expect(page.get_by_role("button", name="Next →")).to_be_disabled()


def test_the_replay_shows_the_approval_decision_at_the_refund_step(browser_page: Page, server: AgentServer) -> None:
    page = browser_page
    run_id = server.start("Please refund order A1001", multi_turn=False)
    call = server.wait_run(run_id, "awaiting_approval")["approvals"][0]["call_id"]
    server.api("POST", f"/api/agent-runs/{run_id}/approvals/{call}/approve", json={"reason": "arrived broken"})
    server.wait_run(run_id, "completed")
    connect(page, server.url, server.key)
    page.goto(f"{server.url}/runs/{run_id}/replay")
    page.get_by_role("list", name="Replay steps").get_by_role("button", name=re.compile("issue_refund")).click()
    decision = page.get_by_label("Replay step").get_by_label("Approval decision")
    expect(decision).to_contain_text("approved", timeout=RUN_DONE_MS)
    expect(decision).to_contain_text("arrived broken")
    expect(page.get_by_label("Replay step").get_by_label("Tool result")).to_contain_text("R-A1001")
