"""Prompts and completions of the real `openai` client, instrumented by the official OpenTelemetry instrumentation
(`opentelemetry-instrumentation-openai-v2`), sent to a real `neon up` as spans and log records: they show on the
LLM spans whether the logs or the spans reach Neon first. And the span panel lists a span's log records.

The instrumented program runs in its own process. Its spans and logs wait in batch processors (no timed export)
until the test says which half to flush first; the test checks that only that half is stored before the other
half is sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from neon.llm.fake import FakeLLMServer, FakeReply, FakeToolCall
from tests.e2e.browser import ROOT, connect, require_ui
from tests.e2e.conftest import NeonProcess, free_port

pytestmark = pytest.mark.slow

PROGRAM = r"""
import json, sys
from openai import OpenAI
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

neon, key, llm, first_half = sys.argv[1:5]
headers = {"x-api-key": key}
resource = Resource.create({"service.name": "bank-assistant"})
HOUR = 3_600_000  # no timed export: only the flushes below send
spans = TracerProvider(resource=resource)
spans.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{neon}/v1/traces", headers=headers),
                                            schedule_delay_millis=HOUR))
logs = LoggerProvider(resource=resource)
logs.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{neon}/v1/logs", headers=headers),
                                                      schedule_delay_millis=HOUR))
OpenAIInstrumentor().instrument(tracer_provider=spans, logger_provider=logs)
client = OpenAI(base_url=llm, api_key="fake-key")
tool = {"type": "function", "function": {"name": "lookup_balance", "parameters": {"type": "object"}}}
with spans.get_tracer("bank").start_as_current_span("agent run") as root:
    logs.get_logger("bank").emit(LogRecord(body="looking up account 7", severity_number=SeverityNumber.WARN,
                                           severity_text="WARN", attributes={"account": 7}))
    messages = [{"role": "system", "content": "You are a bank assistant."},
                {"role": "user", "content": "What is my balance?"}]
    first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[tool])
    call = first.choices[0].message.tool_calls[0]
    messages.append({"role": "assistant", "tool_calls": [{"id": call.id, "type": "function", "function": {
        "name": call.function.name, "arguments": call.function.arguments}}]})
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "42 EUR"})
    second = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
print(json.dumps({"trace_id": format(root.get_span_context().trace_id, "032x"),
                  "answer": second.choices[0].message.content}), flush=True)
one, other = (logs, spans) if first_half == "logs" else (spans, logs)
assert one.force_flush()
print("first half sent", flush=True)
sys.stdin.readline()
assert other.force_flush()
spans.shutdown()
logs.shutdown()
print("all sent", flush=True)
"""


class Neon:
    def __init__(self, process: NeonProcess, key: str) -> None:
        self.process, self.url, self.key = process, process.url, key

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, headers={"x-api-key": self.key}, timeout=30)


@pytest.fixture(scope="module")
def neon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neon]:
    home = tmp_path_factory.mktemp("genai") / "home"
    home.mkdir()
    process = NeonProcess(home, free_port())
    try:
        process.wait_healthy()
        yield Neon(process, json.loads((home / "credentials.json").read_text())["api_key"])
    finally:
        process.stop()


def bank_model(request: Any) -> FakeReply:
    """Asks for the balance tool first, then answers with what the tool said."""
    if any(m.get("role") == "tool" for m in request.body["messages"]):
        return FakeReply(text="Your balance is 42 EUR.")
    return FakeReply(tool_calls=[FakeToolCall("lookup_balance", {"account": 7}, id="call_7")])


def run_program(neon: Neon, first_half: str, env: dict[str, str]) -> tuple[str, subprocess.Popen[str]]:
    """Start the instrumented program; returns (trace id, process) once it has sent its first half."""
    with FakeLLMServer(reply=bank_model) as fake:
        program = subprocess.Popen(
            [sys.executable, "-c", PROGRAM, neon.url, neon.key, fake.openai_base_url, first_half],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}, **env})
        assert program.stdout is not None
        line = program.stdout.readline()
        if not line:
            raise AssertionError(program.communicate(timeout=30)[1])
        started = json.loads(line)
        assert started["answer"] == "Your balance is 42 EUR."
        assert program.stdout.readline().strip() == "first half sent"
    return started["trace_id"], program


def finish(program: subprocess.Popen[str]) -> None:
    out, err = program.communicate("go\n", timeout=60)
    assert program.returncode == 0, err
    assert "all sent" in out


def llm_payloads(neon: Neon, trace_id: str) -> list[dict[str, Any]]:
    """Inputs and outputs of the trace's LLM spans, in start order, as message lists."""
    trace = neon.get(f"/api/traces/{trace_id}")
    assert trace.status_code == 200, trace.text
    found = []
    for span in trace.json()["spans"]:
        if span["span_type"] == "generation":
            payload = neon.get(f"/api/traces/{trace_id}/spans/{span['span_id']}/payload").json()
            found.append({side: json.loads(payload[side]) if payload[side] else None for side in ("input", "output")})
    return found


def texts(messages: list[dict[str, Any]] | None) -> list[tuple[str, str]]:
    """(role, text or tool call name) of each part of each message."""
    out = []
    for message in messages or []:
        for part in message["parts"]:
            out.append((message["role"], part.get("content") or part.get("name") or part.get("response") or ""))
    return out


LEGACY = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}
LATEST = {"OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
          "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "event_only",
          "OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT": "true"}


@pytest.mark.parametrize("first_half", ["logs", "spans"])
def test_prompts_and_completions_show_whichever_half_arrives_first(neon: Neon, first_half: str) -> None:
    trace_id, program = run_program(neon, first_half, LEGACY)
    try:
        # Only the first half is stored yet.
        trace = neon.get(f"/api/traces/{trace_id}")
        events = neon.get("/api/logs", trace_id=trace_id, event_name="gen_ai.user.message").json()["logs"]
        if first_half == "logs":
            assert trace.status_code == 404
            assert len(events) == 2  # one user message per call
        else:
            assert trace.status_code == 200
            assert events == []
            assert all(p == {"input": None, "output": None} for p in llm_payloads(neon, trace_id))
    finally:
        finish(program)

    first, second = llm_payloads(neon, trace_id)
    assert texts(first["input"]) == [("system", "You are a bank assistant."), ("user", "What is my balance?")]
    assert texts(first["output"]) == [("assistant", "lookup_balance")]
    assert first["output"][0]["parts"][0]["type"] == "tool_call"
    assert texts(second["input"])[-2:] == [("assistant", "lookup_balance"), ("tool", "42 EUR")]
    assert texts(second["output"]) == [("assistant", "Your balance is 42 EUR.")]
    assert second["output"][0]["finish_reason"] == "stop"


def test_the_latest_conventions_operation_details_event(neon: Neon) -> None:
    """With the newest GenAI conventions the messages travel as attributes of one
    `gen_ai.client.inference.operation.details` event per call (and not on the span)."""
    trace_id, program = run_program(neon, "spans", LATEST)
    finish(program)
    details = neon.get("/api/logs", trace_id=trace_id,
                       event_name="gen_ai.client.inference.operation.details").json()["logs"]
    assert len(details) == 2
    first, second = llm_payloads(neon, trace_id)
    assert ("user", "What is my balance?") in texts(first["input"])
    assert texts(second["output"]) == [("assistant", "Your balance is 42 EUR.")]


def test_the_span_panel_lists_the_spans_log_records(neon: Neon, browser_page: Page) -> None:
    require_ui()
    trace_id, program = run_program(neon, "spans", LEGACY)
    finish(program)
    connect(browser_page, neon.url, neon.key)
    browser_page.goto(f"{neon.url}/traces/{trace_id}")
    tree = browser_page.get_by_role("tree", name="Spans")
    panel = browser_page.get_by_role("complementary", name="Span details")
    tree.locator(".wf-row", has_text="agent run").first.click()
    logs = panel.get_by_role("region", name="Logs")
    expect(logs).to_contain_text("looking up account 7")
    expect(logs).to_contain_text("WARN")
    # An LLM span: the conversation folded from its events, and the events listed under Logs.
    tree.locator(".wf-row", has_text="chat gpt-4o-mini").last.click()
    expect(panel.locator(".conversation")).to_contain_text("Your balance is 42 EUR.")
    expect(panel.get_by_role("region", name="Logs")).to_contain_text("gen_ai.choice")

