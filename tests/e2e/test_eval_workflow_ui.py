"""An eval run started from the API runs as a workflow inside a real `neon up` (its Temporal dev server and
in-process worker), watched and steered in a real browser: live progress, Pause, Resume, Cancel; every stored
case result exactly once. The suite's target takes a little time per case so the run can be watched."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import connect
from tests.e2e.conftest import NeonProcess, free_port
from tests.e2e.test_agent_durability import wait_ready

pytestmark = pytest.mark.slow  # one `neon up` with Temporal

CASES = 50
SUITE = f'''
import asyncio

from neon.evaluate import Case, Score, define_suite


async def slow_echo(text):
    await asyncio.sleep(0.4)
    return text


def echoed(case, outcome):
    return Score("echoed", 1.0 if outcome.output == case.expected else 0.0)


echoed.name = "echoed"

define_suite("slow", agent=slow_echo, scorers=[echoed],
             cases=[Case(input=f"c{{i}}", expected=f"c{{i}}", id=f"case-{{i:02d}}") for i in range({CASES})])
'''


class Server:
    def __init__(self, process: NeonProcess) -> None:
        self.process = process
        self.url = process.url
        self.key = str(json.loads((process.home / "credentials.json").read_text())["api_key"])

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = httpx.request(method, f"{self.url}{path}", headers={"x-api-key": self.key}, timeout=30, **kwargs)
        assert answer.status_code < 400, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("eval-workflow-ui")
    evals = root / "evals"
    evals.mkdir()
    (evals / "eval_slow.py").write_text(SUITE)
    home = root / "home"
    home.mkdir()
    process = NeonProcess(home, free_port(), env={"NEON_EVALS_PATH": str(evals)})
    try:
        wait_ready(process)
        yield Server(process)
    finally:
        process.stop()


def done_on_screen(page: Page) -> int:
    text = page.get_by_test_id("progress-done").inner_text()
    found = re.match(r"(\d+)/(\d+) done", text)
    assert found, text
    return int(found.group(1))


def test_progress_pause_resume_and_cancel_from_the_run_page(browser_page: Page, server: Server) -> None:
    page = browser_page
    run = server.api("POST", "/api/eval-runs/start", json={"suite": "slow", "version": "main", "concurrency": 2})
    assert run["metadata"]["workflow_id"] == run["id"]
    connect(page, server.url, server.key)
    page.goto(f"{server.url}/evals/{run['id']}")
    done = page.get_by_test_id("progress-done")
    expect(done).to_have_text(re.compile(rf"^([3-9]|[1-4]\d)/{CASES} done$"), timeout=60_000)  # growing

    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_test_id("progress-state")).to_have_text("paused")
    expect(page.get_by_test_id("progress-running")).to_have_text("0 running", timeout=30_000)
    held = done_on_screen(page)
    assert held < CASES
    stored = server.api("GET", f"/api/eval-runs/{run['id']}")["results"]
    assert len(stored) == held  # nothing runs while paused: the store holds exactly what the screen says
    # The case grid caught up with the cases that finished (results appear as cases finish).
    expect(page.get_by_role("button", name=f"All {held}", exact=True)).to_be_visible(timeout=15_000)

    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_test_id("progress-state")).to_have_text("running")
    expect(done).not_to_have_text(f"{held}/{CASES} done", timeout=30_000)

    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_test_id("progress-state")).to_have_text("cancelled", timeout=30_000)
    expect(page.locator("h1 .status")).to_have_text("cancelled", timeout=15_000)
    final = server.api("GET", f"/api/eval-runs/{run['id']}")
    assert final["status"] == "cancelled"
    counts = Counter(r["case_id"] for r in final["results"])
    assert counts, "no case finished before the cancel"
    assert set(counts.values()) == {1}  # every stored case result exactly once
    assert held < len(counts) < CASES
