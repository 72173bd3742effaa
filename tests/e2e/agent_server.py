"""One real `neon up` (with its Temporal dev server and worker) running the example support agent on a stand-in
model, for the agent screens' browser tests (test_agent_ui.py, test_agent_timetravel_ui.py):

    @pytest.fixture(scope="module")
    def server(tmp_path_factory) -> Iterator[AgentServer]:
        with agent_server(tmp_path_factory.mktemp("agent-ui")) as found:
            yield found
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from playwright.sync_api import Page, expect

from neon.llm.fake import FakeLLMServer, FakeReply, FakeRequest, FakeToolCall
from tests.e2e.conftest import NeonProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the example's stand-in model: examples.agents.fake_llm
    sys.path.insert(0, str(ROOT))
AGENTS = ROOT / "examples" / "agents"
RUN_DONE_MS = 90_000  # a run on a busy two-core machine: LLM calls, tools, Temporal round trips
SLOW_TEXT = "Let me look order A1003 up for you, one careful word at a time, so you can watch it arrive"


def stand_in_model(request: FakeRequest) -> FakeReply:
    """The example's support model, plus a slow reply (for watching tokens stream and pausing mid-run): a message
    saying "slowly" gets its words one by one, a quarter second apart, then looks order A1003 up."""
    from examples.agents.fake_llm import support_model

    if "slowly" in request.last_user_message and not request.tool_results:
        return FakeReply(text=SLOW_TEXT, stream_delay=0.25,
                         tool_calls=[FakeToolCall("lookup_order", {"order_id": "A1003"})])
    return support_model(request)


@dataclass
class AgentServer:
    url: str
    key: str

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.url}{path}", headers={"x-api-key": self.key}, timeout=30, **kwargs)
        assert response.is_success, response.text
        return response.json()

    def start(self, text: str, **options: Any) -> str:
        return str(self.api("POST", "/api/agent-runs", json={"agent": "support", "input": text, **options})["run_id"])

    def wait_run(self, run_id: str, status: str, within: float = 90) -> dict[str, Any]:
        """For the API side of a test's setup (what the browser checks, it waits for on screen)."""
        deadline = time.monotonic() + within
        while True:
            run: dict[str, Any] = self.api("GET", f"/api/agent-runs/{run_id}")
            if run["status"] == status:
                return run
            assert time.monotonic() < deadline, f"run {run_id} never got to {status}: {run}"
            time.sleep(0.1)


@contextmanager
def agent_server(tmp: Path) -> Iterator[AgentServer]:
    """`neon up` in a fresh home under `tmp`, its Temporal ready, the support agent's spec recorded."""
    home = tmp / "home"
    home.mkdir()
    with FakeLLMServer(reply=stand_in_model) as fake:
        process = NeonProcess(home, free_port(), env={
            "OPENAI_BASE_URL": fake.openai_base_url, "OPENAI_API_KEY": "fake", "PYTHONPATH": str(ROOT),
            "NEON_AGENTS_PATH": str(AGENTS)})
        try:
            process.wait_healthy(timeout=120)
            deadline = time.monotonic() + 120
            while httpx.get(f"{process.url}/api/health", timeout=10).json()["dependencies"].get(
                    "temporal", {}).get("status") != "ok":
                assert time.monotonic() < deadline, f"Temporal never ready:\n{process.stderr[-3000:]}"
                time.sleep(0.2)
            found = AgentServer(process.url, json.loads((home / "credentials.json").read_text())["api_key"])
            # the agent page lists recorded versions: record the folder's spec, as its first run would
            found.api("POST", "/api/agents", json=yaml.safe_load((AGENTS / "support.yaml").read_text()))
            yield found
        finally:
            process.stop()


def run_status(page: Page) -> Any:
    return expect(page.get_by_test_id("run-status"))


def step(page: Page, kind: str, name: str) -> Any:
    """A step of the run page's timeline, by kind (llm, tool, guardrail) and name (exactly)."""
    return page.locator(f"li.step-{kind}", has=page.locator(".strong", has_text=re.compile(f"^{name}$")))
