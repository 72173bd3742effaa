"""The tracing helpers, captured in memory with neon.testing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

import neon
from neon.testing import capture_spans
from neon.tracing import attributes as A


def parent_of(spans: Any, name: str) -> str | None:
    span = spans.by_name(name)
    if span.parent is None:
        return None
    return next(s.name for s in spans.finished() if s.context.span_id == span.parent.span_id)


def test_context_managers_nest_and_carry_agent_fields() -> None:
    with capture_spans() as spans:
        with neon.trace("agent", session_id="s-1", user_id="u-1", agent_id="support", agent_version="v2",
                        tags=["beta"], metadata={"tier": "gold"}, input={"q": "hi"}) as root:
            with neon.generation("llm", model="gpt-4o", provider="openai", messages=[{"role": "user"}]) as g:
                g.set_output("hello").set_usage(input_tokens=10, output_tokens=2).set_finish_reason("stop")
            with neon.tool("search", input={"q": "x"}, category="lookup", confidence=0.9,
                           alternatives=["browse"]) as t:
                t.set_output(["a", "b"])
            with neon.planning("plan"):
                pass
        assert root.trace_id == format(1, "032x")  # deterministic ids
    attrs = spans.attributes("agent")
    assert (attrs[A.SPAN_TYPE], attrs[A.SESSION_ID], attrs[A.USER_ID], attrs[A.AGENT_ID]) == (
        "agent", "s-1", "u-1", "support")
    assert attrs[A.TAGS] == ("beta",)
    assert attrs["neon.metadata.tier"] == "gold"
    assert json.loads(attrs[A.INPUT]) == {"q": "hi"}
    llm = spans.attributes("llm")
    assert (llm[A.SPAN_TYPE], llm[A.MODEL], llm[A.PROVIDER], llm[A.INPUT_TOKENS], llm[A.OUTPUT_TOKENS]) == (
        "generation", "gpt-4o", "openai", 10, 2)
    assert llm[A.OUTPUT] == "hello"
    assert llm[A.FINISH_REASONS] == ("stop",)
    tool = spans.attributes("search")
    assert (tool[A.SPAN_TYPE], tool[A.TOOL_NAME], tool[A.SELECTION_CONFIDENCE]) == ("tool", "search", 0.9)
    assert json.loads(tool[A.OUTPUT]) == ["a", "b"]
    assert spans.attributes("plan")[A.COMPONENT_TYPE] == "planning"
    assert {parent_of(spans, n) for n in ("llm", "search", "plan")} == {"agent"}


def test_decorators_on_sync_and_async_functions_capture_args_and_results() -> None:
    @neon.tool()
    def add(a: int, b: int) -> int:
        return a + b

    @neon.span("fetch")
    async def fetch(url: str) -> dict[str, str]:
        await asyncio.sleep(0)
        return {"url": url}

    with capture_spans() as spans:
        assert add(2, b=3) == 5
        assert asyncio.run(fetch("http://x")) == {"url": "http://x"}
    added = spans.attributes("add")
    assert added[A.TOOL_NAME] == "add"
    assert json.loads(added[A.INPUT]) == {"a": 2, "b": 3}
    assert added[A.OUTPUT] == "5"
    assert json.loads(spans.attributes("fetch")[A.OUTPUT]) == {"url": "http://x"}


def test_generators_end_when_consumed_with_time_to_first_token() -> None:
    @neon.generation("stream", model="gpt-4o")
    def stream() -> Iterator[str]:
        with neon.span("inside"):
            pass
        yield "Hel"
        yield "lo"

    @neon.generation("astream", model="gpt-4o")
    async def astream() -> AsyncIterator[str]:
        yield "a"
        yield "b"

    async def consume() -> list[str]:
        return [x async for x in astream()]

    with capture_spans() as spans:
        chunks = stream()
        assert spans.finished() == []  # nothing ends before the stream is consumed
        assert list(chunks) == ["Hel", "lo"]
        assert asyncio.run(consume()) == ["a", "b"]
    assert spans.attributes("stream")[A.OUTPUT] == "Hello"
    assert spans.attributes("stream")[A.TIME_TO_FIRST_TOKEN_MS] >= 0
    assert spans.attributes("astream")[A.OUTPUT] == "ab"
    assert parent_of(spans, "inside") == "stream"


def test_exceptions_mark_errors_and_reraise() -> None:
    @neon.tool("flaky")
    def flaky() -> None:
        raise TimeoutError("upstream timed out")

    with capture_spans() as spans:
        with pytest.raises(TimeoutError):
            flaky()
        with pytest.raises(ValueError, match="bad"), neon.span("block"):
            raise ValueError("bad")
    for name, message in (("flaky", "TimeoutError: upstream timed out"), ("block", "ValueError: bad")):
        span = spans.by_name(name)
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == message
        assert span.events[0].name == "exception"


def test_parallel_asyncio_tool_calls_nest_under_their_parent() -> None:
    @neon.tool()
    async def lookup(n: int) -> int:
        await asyncio.sleep(0.01 * (3 - n))
        return n

    async def agent() -> list[int]:
        with neon.trace("agent"):
            return list(await asyncio.gather(*(lookup(n) for n in range(3))))

    with capture_spans() as spans:
        assert asyncio.run(agent()) == [0, 1, 2]
    tools = [s for s in spans.finished() if s.name.endswith("lookup")]
    assert len(tools) == 3
    root = spans.by_name("agent")
    assert {t.parent.span_id for t in tools if t.parent} == {root.context.span_id}


def test_payloads_are_redacted_truncated_and_never_break_the_program() -> None:
    class Unprintable:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    def redact(value: Any) -> Any:
        return {k: "***" if k == "password" else v for k, v in value.items()} if isinstance(value, dict) else value

    with capture_spans(redact=redact, max_payload_chars=20) as spans:
        with neon.span("login", input={"user": "ada", "password": "hunter2"}):
            pass
        with neon.span("big", input="x" * 100):
            pass
        with neon.span("odd", input=[Unprintable()]):
            pass
    assert "hunter2" not in spans.attributes("login")[A.INPUT]
    big = spans.attributes("big")
    assert big[A.INPUT].startswith("x" * 20)
    assert big[A.INPUT].endswith("[truncated by neon sdk]")
    assert big[A.TRUNCATED] is True
    assert spans.attributes("odd")[A.INPUT].startswith("<unserialisable list")


def test_threads_nest_with_bind_context() -> None:
    from concurrent.futures import ThreadPoolExecutor

    @neon.tool()
    def fetch(n: int) -> int:
        return n

    with capture_spans() as spans, neon.trace("agent"), ThreadPoolExecutor(4) as pool:
        results = list(pool.map(neon.bind_context(fetch), range(4)))
    assert results == [0, 1, 2, 3]
    root = spans.by_name("agent")
    fetches = [s for s in spans.finished() if s.name == "fetch"]
    assert len(fetches) == 4
    assert {s.parent.span_id for s in fetches if s.parent} == {root.context.span_id}


def test_deterministic_clock_and_ids() -> None:
    from neon.testing import TickClock

    with capture_spans(clock=TickClock(start=1_000, step=10)) as spans, neon.trace("a"), neon.span("b"):
        pass
    a, b = spans.by_name("a"), spans.by_name("b")
    assert (a.start_time, b.start_time, b.end_time, a.end_time) == (1_000, 1_010, 1_020, 1_030)
    assert (a.context.trace_id, a.context.span_id, b.context.span_id) == (1, 1, 2)
