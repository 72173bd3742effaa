"""An A/B test of two variants of an agent-spec suite, started from the API inside a real `neon up` (Temporal
dev server, in-process worker, the fake LLM as the model) and watched in a real browser: each variant's
progress, the verdict per scorer once both runs finished, and a case's trace link opening the trace."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from neon.llm.fake import FakeLLMServer, FakeReply, FakeRequest
from tests.e2e.browser import ROOT, connect
from tests.e2e.conftest import NeonProcess, free_port
from tests.e2e.test_agent_durability import wait_ready

pytestmark = pytest.mark.slow  # one `neon up` with Temporal

CASES = 8
TERSE = "Refuse everything tersely."
SUITE = f'''
from neon.evaluate import Case, Score, agent_spec, define_suite


def mentions(case, outcome):
    return Score("mentions", 1.0 if str(case.expected) in str(outcome.output) else 0.0)


mentions.name = "mentions"

define_suite("support-ab", agent=agent_spec({str(ROOT / "examples" / "agents" / "support.yaml")!r}),
             scorers=[mentions],
             cases=[Case(input=f"Say the code K{{i}}", expected=f"K{{i}}", id=f"case-{{i}}") for i in range({CASES})])
'''


def answer(request: FakeRequest) -> FakeReply:
    """Repeats the code asked for (a little slowly, so progress can be watched), unless told to refuse."""
    if TERSE in request.system:
        return FakeReply(text="No.", delay=0.3)
    return FakeReply(text=f"Sure: {request.last_user_message.removeprefix('Say the code ')}", delay=0.3)


class Server:
    def __init__(self, process: NeonProcess) -> None:
        self.url = process.url
        self.key = str(json.loads((process.home / "credentials.json").read_text())["api_key"])

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        answered = httpx.request(method, f"{self.url}{path}", headers={"x-api-key": self.key}, timeout=30, **kwargs)
        assert answered.status_code < 400, answered.text
        return answered.json()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("ab-ui")
    evals = root / "evals"
    evals.mkdir()
    (evals / "eval_ab.py").write_text(SUITE)
    home = root / "home"
    home.mkdir()
    with FakeLLMServer(reply=answer) as fake:
        process = NeonProcess(home, free_port(), env={
            "NEON_EVALS_PATH": str(evals), "OPENAI_BASE_URL": fake.openai_base_url, "OPENAI_API_KEY": "fake",
            "PYTHONPATH": str(ROOT)})
        try:
            wait_ready(process)
            yield Server(process)
        finally:
            process.stop()


def test_progress_then_the_verdict_and_a_case_trace(browser_page: Page, server: Server) -> None:
    page = browser_page
    started = server.api("POST", "/api/ab-tests", json={
        "suite": "support-ab", "concurrency": 2,
        "variants": [{"label": "baseline"}, {"label": "terse", "system_prompt": TERSE}]})
    listed = server.api("GET", "/api/ab-tests")["ab_tests"]
    assert [t["ab_test_id"] for t in listed] == [started["ab_test_id"]], listed
    connect(page, server.url, server.key)
    page.goto(f"{server.url}/evals")
    page.get_by_role("link", name=started["ab_test_id"]).click()
    expect(page).to_have_url(re.compile(rf"/evals/ab/{started['ab_test_id']}$"))

    for label in ("baseline", "terse"):
        expect(page.get_by_test_id(f"progress-{label}")).to_have_text(re.compile(rf"^\d+/{CASES} done"),
                                                                    timeout=60_000)
    expect(page.get_by_test_id("ab-status")).to_have_text("completed", timeout=120_000)
    for label in ("baseline", "terse"):
        expect(page.get_by_test_id(f"progress-{label}")).to_have_text(re.compile(rf"^{CASES}/{CASES} done"))
    verdict = page.locator('tr[data-variant="terse"][data-scorer="mentions"]').get_by_test_id("verdict")
    expect(verdict).to_have_text("worse")

    detail = server.api("GET", f"/api/ab-tests/{started['ab_test_id']}")
    trace_id = detail["cases"][0]["variants"]["terse"]["trace_id"]
    cell = page.locator(f'tr[data-case="{detail["cases"][0]["case_id"]}"] td[data-variant="terse"]')
    cell.get_by_role("link", name="trace").click()
    expect(page).to_have_url(re.compile(rf"/traces/{trace_id}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^support"), timeout=30_000)
    # the agent run that answered this case of the variant, with the case's score on its trace
    case_run = f"{started['eval_run_ids'][1]}/{detail['cases'][0]['case_id']}/agent"
    expect(page.get_by_role("link", name=case_run)).to_be_visible()
    expect(page.get_by_text("mentions 0", exact=True)).to_be_visible()
