"""The evaluation screens in a real browser, against a real `neon up` with two runs of the example suite recorded
by `neon eval`: `main` (all 10 cases pass) and `pr-123` (the variant that answers refund questions without
looking the policy up: 3 cases fall to 0 on two scorers).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import connect
from tests.e2e.conftest import NEON, NeonProcess, free_port

pytestmark = pytest.mark.slow  # one `neon up` and two `neon eval` runs: about 40 s before the first test

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "evals"
REFUND_CASES = ["refund-1", "refund-2", "refund-3"]


@dataclass
class EvalServer:
    url: str
    key: str
    home: Path
    runs: dict[str, dict[str, Any]]  # version → the run with its results

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.url}{path}", headers={"x-api-key": self.key}, timeout=30,
                                 **kwargs)
        assert response.is_success, response.text
        return response.json()

    def trace_of(self, version: str, case_id: str) -> str:
        return str(next(r for r in self.runs[version]["results"] if r["case_id"] == case_id)["trace_id"])


def cli(home: Path, *args: str, variant: str = "v1") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEON_")}
    env.update({"NEON_HOME": str(home), "SUPPORT_BOT_VARIANT": variant})
    return subprocess.run([NEON, *args], capture_output=True, text=True, env=env, timeout=120, cwd=home)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EvalServer]:
    home = tmp_path_factory.mktemp("eval-ui") / "home"
    home.mkdir()
    process = NeonProcess(home, free_port())
    try:
        process.wait_healthy(timeout=120)
        key = json.loads((home / "credentials.json").read_text())["api_key"]
        for version, variant in (("main", "v1"), ("pr-123", "v2")):
            done = cli(home, "eval", "--path", str(EXAMPLES), "--version", version, variant=variant)
            assert done.returncode == 0, done.stdout + done.stderr
        found = EvalServer(url=process.url, key=key, home=home, runs={})
        for run in found.api("GET", "/api/eval-runs")["runs"]:
            found.runs[run["version"]] = found.api("GET", f"/api/eval-runs/{run['id']}")
        assert set(found.runs) == {"main", "pr-123"}
        yield found
    finally:
        process.stop()


def test_runs_list_shows_the_runs_and_compares_two_picked_ones(browser_page: Page, server: EvalServer) -> None:
    page = browser_page
    main, pr = server.runs["main"], server.runs["pr-123"]
    connect(page, server.url, server.key)
    page.get_by_role("link", name="Evals").click()
    rows = page.locator("table[aria-label='Eval runs'] tbody tr")
    expect(rows).to_have_count(2)
    newest = page.locator(f"tr[data-run-id='{pr['id']}']")
    expect(newest).to_contain_text("support-bot")
    expect(newest).to_contain_text("pr-123")
    expect(newest).to_contain_text("completed")
    expect(newest).to_contain_text("7 passed")
    expect(newest).to_contain_text("3 failed")
    expect(newest).to_contain_text(re.compile(r"contains_expected\s*0\.7"))
    expect(page.locator(f"tr[data-run-id='{main['id']}']")).to_contain_text("10 passed")

    page.get_by_label("Suite").select_option("support-bot")
    expect(page).to_have_url(re.compile(r"suite=support-bot"))
    expect(rows).to_have_count(2)

    compare = page.get_by_role("button", name=re.compile("^Compare"))
    expect(compare).to_be_disabled()
    page.get_by_label("Pick support-bot pr-123 to compare").check()
    page.get_by_label("Pick support-bot main to compare").check()
    compare.click()
    # the older run is the baseline
    expect(page).to_have_url(re.compile(rf"/evals/compare\?baseline_run={main['id']}&candidate_run={pr['id']}"))
    verdict = page.get_by_role("status").filter(has_text="Regression")
    expect(verdict).to_have_attribute("data-verdict", "regression")
    expect(verdict).to_contain_text("contains_expected, expected_tools fell below 0.95")
    expect(page.locator("tr[data-scorer='contains_expected']")).to_contain_text("regression")
    expect(page.locator("tr[data-scorer='contains_expected']")).to_contain_text("−0.300")
    expect(page.locator("tr[data-scorer='brief']")).to_contain_text("ok")

    worse = page.get_by_role("list", name="Cases that got worse").locator("li.worse-case")
    expect(worse).to_have_count(3)
    assert sorted(worse.evaluate_all("items => items.map(i => i.dataset.caseId)")) == REFUND_CASES
    refund = page.locator("li[data-case-id='refund-1']")
    expect(refund.locator("[data-scorer='expected_tools']")).to_contain_text("missing lookup_policy")
    expect(refund.locator("[data-scorer='contains_expected']")).to_contain_text("expected 'within 30 days'")
    before, after = server.trace_of("main", "refund-1"), server.trace_of("pr-123", "refund-1")
    expect(refund.get_by_role("link", name="baseline trace")).to_have_attribute("href", f"/traces/{before}")
    refund.get_by_role("link", name="candidate trace").click()
    expect(page).to_have_url(re.compile(f"/traces/{after}$"))
    expect(page.get_by_text("eval:support-bot").first).to_be_visible()


def test_run_page_grid_shows_cases_by_scorers_with_reasons(browser_page: Page, server: EvalServer) -> None:
    page = browser_page
    pr = server.runs["pr-123"]
    connect(page, server.url, server.key)
    page.goto(f"{server.url}/evals/{pr['id']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("support-bot")
    expect(page.get_by_role("heading", level=1)).to_contain_text("70% passed")
    grid = page.get_by_role("grid", name="Cases by scorer")
    headers = grid.get_by_role("columnheader")
    expect(headers).to_have_text(["Case", "Result", "brief", "contains_expected", "expected_tools", "Time"])
    expect(grid.locator("[data-case-id]")).to_have_count(10)

    cell = grid.locator("[data-case-id='refund-1'] [data-scorer='expected_tools']")
    expect(cell).to_have_text(re.compile(r"^0"))
    expect(cell).to_have_attribute("title", re.compile("missing lookup_policy"))
    cell.click()
    panel = page.get_by_role("complementary", name="Case refund-1")
    expect(panel).to_be_visible()
    expect(panel.locator("li[data-scorer='expected_tools']")).to_have_class(re.compile("focused"))
    expect(panel).to_contain_text("missing lookup_policy")
    expect(panel).to_contain_text("Can I get a refund?")
    expect(panel).to_contain_text("within 30 days")
    expect(panel).to_contain_text("Please contact our support team about that.")
    trace_link = panel.get_by_role("link", name=re.compile("open the case's trace"))
    expect(trace_link).to_have_attribute("href", f"/traces/{server.trace_of('pr-123', 'refund-1')}")
    expect(page).to_have_url(re.compile(r"case=refund-1&scorer=expected_tools|scorer=expected_tools&case=refund-1"))

    page.get_by_role("button", name="Failed 3").click()
    expect(grid.locator("[data-case-id]")).to_have_count(3)
    page.get_by_label("Find a case").fill("refund-2")
    expect(grid.locator("[data-case-id]")).to_have_count(1)

    page.goto(f"{server.url}/evals/run_nope")
    expect(page.get_by_role("alert")).to_contain_text("no eval run 'run_nope'")


def test_compare_by_version_with_a_threshold_and_in_a_narrow_window(browser_page: Page,
                                                                   server: EvalServer) -> None:
    page = browser_page
    connect(page, server.url, server.key)
    page.set_viewport_size({"width": 400, "height": 800})
    page.goto(f"{server.url}/evals/compare?baseline=main&candidate=pr-123")
    expect(page.locator("[data-verdict]")).to_have_attribute("data-verdict", "regression")
    expect(page.locator("li.worse-case")).to_have_count(3)
    assert page.evaluate("document.documentElement.scrollWidth") <= 400  # nothing sticks out sideways
    page.get_by_label("Threshold").select_option("0.5")  # 0.7 ≥ 0.5 × 1: not a regression any more
    expect(page.locator("[data-verdict]")).to_have_attribute("data-verdict", "ok")
    expect(page.locator("[data-verdict]")).to_contain_text("No regression")

    page.goto(f"{server.url}/evals/compare?baseline=main&candidate=nope")
    expect(page.get_by_role("alert")).to_contain_text("no completed run of any suite at version 'nope'")


def test_datasets_versions_and_a_dataset_from_traces(browser_page: Page, server: EvalServer) -> None:
    page = browser_page
    server.api("POST", "/api/datasets", json={"name": "faq", "description": "hand-written", "items": [
        {"id": "fees", "input": "Any fees?", "expected": "no monthly fee", "expected_tools": ["lookup_policy"]}]})
    server.api("POST", "/api/datasets/faq/items", json={"items": [{"id": "ship", "input": {"q": "shipping?"}}]})
    connect(page, server.url, server.key)
    page.get_by_role("link", name="Datasets").click()
    page.get_by_role("link", name="faq").click()
    items = page.get_by_role("table", name="Dataset items").locator("tr.item-row")
    expect(items).to_have_count(2)
    page.get_by_label("Version").select_option("1")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("Any fees?")
    expect(items.first).to_contain_text("lookup_policy")
    expect(page).to_have_url(re.compile(r"version=1"))

    # From the traces page's filters: the candidate's 10 case traces.
    page.goto(f"{server.url}/traces?range=24h&tag=version%3Apr-123")
    page.get_by_role("link", name="Save as dataset").click()
    form = page.get_by_role("form", name="New dataset from traces")
    expect(form.get_by_label("Trace tag")).to_have_value("version:pr-123")
    form.get_by_label("Dataset name").fill("from-pr-123")
    form.get_by_role("button", name="Create from traces").click()
    expect(form.get_by_role("status")).to_contain_text("Added 10 items to from-pr-123 (version 2)")
    form.get_by_role("button", name="Create from traces").click()  # again: every trace is in it already
    expect(form.get_by_role("status")).to_contain_text("10 already in the dataset")
    form.get_by_label("Dataset name").fill("bad name!")
    form.get_by_role("button", name="Create from traces").click()
    assert form.get_by_label("Dataset name").evaluate("input => input.validity.valid") is False
    expect(page.get_by_role("table", name="Datasets").locator("tr[data-dataset='from-pr-123']")).to_contain_text("10")


def test_empty_project_explains_how_to_start(browser_page: Page, server: EvalServer) -> None:
    page = browser_page
    made = cli(server.home, "projects", "create", "empty-project")
    assert made.returncode == 0, made.stderr
    key = re.search(r"neon_sk_\S+", made.stdout)
    assert key, made.stdout
    connect(page, server.url, key.group())
    page.goto(f"{server.url}/evals")
    expect(page.get_by_role("heading", name="No eval runs yet")).to_be_visible()
    expect(page.locator(".copy-block").filter(has_text="neon eval --path evals --version main")).to_be_visible()
    page.goto(f"{server.url}/evals/compare")
    expect(page.get_by_role("heading", name="Nothing to compare yet")).to_be_visible()
    page.goto(f"{server.url}/datasets")
    expect(page.get_by_role("heading", name="No datasets yet")).to_be_visible()
