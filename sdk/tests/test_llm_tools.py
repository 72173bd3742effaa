"""Tool calling and streaming against the fake server: real HTTP on 127.0.0.1, both API shapes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Literal

import httpx
import pytest

import neon
from neon.llm import (
    AnthropicProvider,
    Completion,
    HTTPProvider,
    LLMError,
    OpenAIProvider,
    RetryPolicy,
    TextDelta,
    ToolCall,
    ToolDefinition,
    normalise_messages,
    tool_message,
)
from neon.llm.fake import ConversationScript, FakeLLMServer, FakeReply, FakeToolCall
from neon.llm.streaming import SSEEvent, iter_sse
from neon.testing import capture_spans
from neon.tracing import attributes as A

Api = Literal["openai", "anthropic"]
APIS: list[Api] = ["openai", "anthropic"]
FAST = RetryPolicy(max_retries=2, backoff=0.01, max_backoff=0.05)
WEATHER = ToolDefinition("weather", "Current weather in a city",
                         {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
CLOCK = ToolDefinition("clock")
QUESTION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris and Rome?"}]
TWO_CALLS = FakeReply(text="Checking both.", tool_calls=[FakeToolCall("weather", {"city": "Paris"}, id="c1"),
                                                        FakeToolCall("weather", {"city": "Rome"}, id="c2")])


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as running:
        yield running


async def collect(provider: HTTPProvider, messages: Any, **options: Any) -> tuple[list[str], Completion]:
    """The text deltas and the final Completion of one streamed call."""
    deltas: list[str] = []
    final: list[Completion] = []
    async for event in provider.stream(messages, **options):
        if isinstance(event, TextDelta):
            assert not final, "text after the Completion"
            deltas.append(event.text)
        else:
            final.append(event)
    assert len(final) == 1
    return deltas, final[0]


def stream(provider: HTTPProvider, messages: Any, **options: Any) -> tuple[list[str], Completion]:
    return asyncio.run(collect(provider, messages, **options))


# ---------------------------------------------------------------- tool calls


def test_openai_tool_round_trip(server: FakeLLMServer) -> None:
    server.queue(TWO_CALLS, "Paris 18°C, Rome 24°C.")
    provider = server.provider("openai")
    reply = provider.complete_sync(QUESTION, tools=[WEATHER, CLOCK], tool_choice="auto")
    assert reply.finish_reason == "tool_calls"
    assert reply.tool_calls == (ToolCall("c1", "weather", {"city": "Paris"}, '{"city": "Paris"}'),
                                ToolCall("c2", "weather", {"city": "Rome"}, '{"city": "Rome"}'))
    assert reply.message == {"role": "assistant", "content": "Checking both.", "tool_calls": [
        {"id": "c1", "name": "weather", "arguments": {"city": "Paris"}},
        {"id": "c2", "name": "weather", "arguments": {"city": "Rome"}}]}
    first = server.requests[0].body
    assert first["tools"] == [
        {"type": "function", "function": {"name": "weather", "description": "Current weather in a city",
                                          "parameters": WEATHER.parameters}},
        {"type": "function", "function": {"name": "clock", "parameters": {"type": "object", "properties": {}}}}]
    assert first["tool_choice"] == "auto"

    conversation = [*QUESTION, reply.message, tool_message(reply.tool_calls[0], "18°C"),
                    tool_message(reply.tool_calls[1], {"celsius": 24}, is_error=False)]
    assert provider.complete_sync(conversation, tools=[WEATHER]).text == "Paris 18°C, Rome 24°C."
    assert server.requests[1].body["messages"][2:] == [
        {"role": "assistant", "content": "Checking both.", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}},
            {"id": "c2", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Rome"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "18°C"},
        {"role": "tool", "tool_call_id": "c2", "content": '{"celsius": 24}'}]
    assert server.requests[1].tool_results == [{"tool_call_id": "c1", "content": "18°C", "is_error": False},
                                               {"tool_call_id": "c2", "content": '{"celsius": 24}', "is_error": False}]


def test_anthropic_tool_round_trip(server: FakeLLMServer) -> None:
    server.queue(TWO_CALLS, "Paris 18°C, Rome unknown.")
    provider = server.provider("anthropic")
    reply = provider.complete_sync(QUESTION, tools=[WEATHER], tool_choice="required")
    assert reply.finish_reason == "tool_use"
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("c1", "weather", {"city": "Paris"}), ("c2", "weather", {"city": "Rome"})]
    first = server.requests[0].body
    assert first["tools"] == [{"name": "weather", "description": "Current weather in a city",
                               "input_schema": WEATHER.parameters}]
    assert first["tool_choice"] == {"type": "any"}

    conversation = [*QUESTION, reply.message, tool_message(reply.tool_calls[0], "18°C"),
                    tool_message(reply.tool_calls[1], "no such station", is_error=True),
                    {"role": "user", "content": "In short?"}]
    provider.complete_sync(conversation, tools=[WEATHER])
    body = server.requests[1].body
    assert body["system"] == "Be brief."
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking both."},
            {"type": "tool_use", "id": "c1", "name": "weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "c2", "name": "weather", "input": {"city": "Rome"}}]},
        {"role": "user", "content": [  # both results in one user message, as the API wants
            {"type": "tool_result", "tool_use_id": "c1", "content": "18°C"},
            {"type": "tool_result", "tool_use_id": "c2", "content": "no such station", "is_error": True}]},
        {"role": "user", "content": "In short?"}]
    assert [(r["tool_call_id"], r["is_error"]) for r in server.requests[1].tool_results] == [
        ("c1", False), ("c2", True)]
    assert server.requests[1].last_user_message == "In short?"


@pytest.mark.parametrize(("choice", "openai", "anthropic"), [
    ("auto", "auto", {"type": "auto"}),
    ("required", "required", {"type": "any"}),
    ("none", "none", {"type": "none"}),
    ("clock", {"type": "function", "function": {"name": "clock"}}, {"type": "tool", "name": "clock"}),
])
def test_tool_choice_in_each_api(server: FakeLLMServer, choice: str, openai: Any, anthropic: Any) -> None:
    for api in APIS:
        server.provider(api).complete_sync("time?", tools=[WEATHER, CLOCK], tool_choice=choice)
    assert [r.body["tool_choice"] for r in server.requests] == [openai, anthropic]


def test_tool_choice_that_cannot_be_honoured_is_refused_before_sending(server: FakeLLMServer) -> None:
    provider = server.provider("openai")
    with pytest.raises(ValueError, match="neither auto/required/none nor one of the tools"):
        provider.complete_sync("x", tools=[WEATHER], tool_choice="search")
    with pytest.raises(ValueError, match="needs tools"):
        provider.complete_sync("x", tool_choice="required")
    with pytest.raises(ValueError, match="unique"):
        provider.complete_sync("x", tools=[WEATHER, WEATHER])
    with pytest.raises(ValueError, match="must be 1-64"):
        ToolDefinition("get weather")
    assert server.requests == []


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("streamed", [False, True])
def test_arguments_that_are_not_a_json_object_are_reported_not_raised(
        server: FakeLLMServer, api: Api, streamed: bool) -> None:
    server.queue(FakeReply(tool_calls=[FakeToolCall("weather", '{"city": "Par', id="bad"),
                                       FakeToolCall("weather", "[1, 2]", id="list"),
                                       FakeToolCall("clock", "", id="empty")]))
    provider = server.provider(api)
    reply = stream(provider, "x", tools=[WEATHER, CLOCK])[1] if streamed else provider.complete_sync(
        "x", tools=[WEATHER, CLOCK])
    bad, listed, empty = reply.tool_calls
    assert (bad.arguments, bad.raw_arguments) == ({}, '{"city": "Par')
    assert bad.arguments_error is not None
    assert bad.arguments_error.startswith("arguments are not valid JSON")
    assert (listed.arguments, listed.arguments_error) == ({}, "arguments must be a JSON object, not list")
    assert (empty.arguments, empty.arguments_error) == ({}, None)  # no arguments at all is fine
    assert reply.message["tool_calls"][0] == {"id": "bad", "name": "weather", "arguments": {},
                                              "raw_arguments": '{"city": "Par'}

    # Sent back, the model sees what it wrote where the API allows it (OpenAI), `{}` where it must be an object.
    results = [tool_message(call, call.arguments_error or "ok", is_error=call.arguments_error is not None)
               for call in reply.tool_calls]
    provider.complete_sync([{"role": "user", "content": "x"}, reply.message, *results])
    sent = server.requests[-1].body["messages"][1]
    if api == "openai":
        assert sent["tool_calls"][0]["function"]["arguments"] == '{"city": "Par'
    else:
        assert sent["content"][0] == {"type": "tool_use", "id": "bad", "name": "weather", "input": {}}


def test_old_message_shapes_pass_unchanged_and_openai_tool_calls_are_accepted() -> None:
    judge = [{"role": "system", "content": "Grade."}, {"role": "user", "content": "Q", "name": "alice"},
             {"role": "assistant", "content": "A"}]
    assert normalise_messages(judge) == judge
    assert normalise_messages("hi") == [{"role": "user", "content": "hi"}]
    openai_shaped = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}]}
    assert normalise_messages([openai_shaped]) == [{"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "name": "weather", "arguments": {"city": "Oslo"}}]}]
    with pytest.raises(ValueError, match="tool_call_id"):
        normalise_messages([{"role": "tool", "content": "18°C"}])
    with pytest.raises(ValueError, match="'role' and 'content'"):
        normalise_messages([{"role": "user"}])


# ---------------------------------------------------------------- streaming


@pytest.mark.parametrize("api", APIS)
def test_streamed_text_equals_the_reply_in_one_piece(server: FakeLLMServer, api: Api) -> None:
    reply = FakeReply(text="The quick brown fox jumps over the lazy dog.", input_tokens=11, output_tokens=9)
    server.queue(reply, reply)
    provider = server.provider(api, model="m-1")
    whole = provider.complete_sync(QUESTION)
    deltas, streamed = stream(provider, QUESTION)
    assert len(deltas) == 9
    assert "".join(deltas) == whole.text == reply.text
    assert streamed == whole
    assert (streamed.input_tokens, streamed.output_tokens, streamed.model) == (11, 9, "m-1")
    body = server.requests[1].body
    assert body["stream"] is True
    if api == "openai":
        assert body["stream_options"] == {"include_usage": True}
    assert "stream" not in server.requests[0].body


@pytest.mark.parametrize("api", APIS)
def test_streamed_tool_calls_are_assembled_from_fragments(server: FakeLLMServer, api: Api) -> None:
    calls = FakeReply(text="Checking.", tool_calls=[
        FakeToolCall("weather", {"city": "Saint-Rémy-de-Provence", "units": "metric"}),
        FakeToolCall("clock")])
    server.queue(calls, calls)
    provider = server.provider(api)
    whole = provider.complete_sync(QUESTION, tools=[WEATHER, CLOCK])
    deltas, streamed = stream(provider, QUESTION, tools=[WEATHER, CLOCK])
    assert deltas == ["Checking."]
    assert streamed == whole  # ids too: the fake derives them from the conversation
    assert [c.arguments for c in streamed.tool_calls] == [{"city": "Saint-Rémy-de-Provence", "units": "metric"}, {}]
    assert streamed.output_tokens is not None


def test_tokens_arrive_while_the_call_runs(server: FakeLLMServer) -> None:
    server.queue(FakeReply(text="one two three four five six", stream_delay=0.08))

    async def timed() -> tuple[list[float], float]:
        started = time.perf_counter()
        arrivals = []
        async for _ in server.provider("anthropic").stream("x"):
            arrivals.append(time.perf_counter() - started)
        return arrivals[:-1], arrivals[-1]

    deltas, done = asyncio.run(timed())
    assert len(deltas) == 6
    assert deltas[0] < done - 0.25  # five more pauses of 80 ms came after the first word was in hand


@pytest.mark.parametrize("api", APIS)
def test_stream_span_records_time_to_first_token_output_and_usage(server: FakeLLMServer, api: Api) -> None:
    server.queue(FakeReply(text="alpha beta gamma", input_tokens=5, output_tokens=3, stream_delay=0.05))
    with capture_spans() as spans:
        stream(server.provider(api), "x", span_name="agent.llm")
    span = spans.by_name("agent.llm")
    attrs = spans.attributes("agent.llm")
    assert attrs[A.SPAN_TYPE] == "generation"
    assert (attrs[A.OUTPUT], attrs[A.INPUT_TOKENS], attrs[A.OUTPUT_TOKENS]) == ("alpha beta gamma", 5, 3)
    assert attrs["neon.llm.stream"] is True
    assert span.end_time is not None
    assert span.start_time is not None
    duration_ms = (span.end_time - span.start_time) / 1e6
    assert 40 <= attrs[A.TIME_TO_FIRST_TOKEN_MS] < duration_ms - 50  # two more chunks followed


def test_stream_span_is_not_current_while_the_caller_handles_events(server: FakeLLMServer) -> None:
    server.queue(FakeReply(text="a b c"))

    async def consume() -> None:
        async for event in server.provider("openai").stream("x", tools=[CLOCK]):
            if isinstance(event, TextDelta):
                with neon.span(f"caller.{event.text.strip()}"):
                    pass

    with capture_spans() as spans, neon.span("agent"):
        asyncio.run(consume())
    agent = spans.by_name("agent").context
    assert agent is not None
    assert spans.by_name("caller.a").parent is not None
    assert {spans.by_name(f"caller.{w}").parent.span_id for w in "abc"} == {agent.span_id}  # type: ignore[union-attr]
    assert spans.by_name("openai.chat").parent.span_id == agent.span_id  # type: ignore[union-attr]
    assert spans.attributes("openai.chat")["neon.llm.tools"] == ("clock",)


def test_a_stream_left_early_ends_its_span_without_error(server: FakeLLMServer) -> None:
    server.queue(FakeReply(text="many words " * 50, stream_delay=0.001), "next")

    async def first_word() -> str:
        events = server.provider("openai").stream("x")
        async for event in events:
            assert isinstance(event, TextDelta)
            await events.aclose()
            return event.text
        return ""

    with capture_spans() as spans:
        assert asyncio.run(first_word()) == "many "
    span = spans.by_name("openai.chat")
    assert span.status.is_ok
    assert server.provider("openai").complete_sync("x").text == "next"  # the server carries on


# ---------------------------------------------------------------- failures


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("streamed", [False, True])
def test_rate_limit_is_surfaced_with_its_wait_for_the_caller(server: FakeLLMServer, api: Api, streamed: bool) -> None:
    server.queue(FakeReply(status=429, retry_after="7", error_message="slow down"),
                 FakeReply(status=429, retry_after="7", retry_after_ms=1500, error_message="slow down"))
    provider = server.provider(api, max_retries=0)
    waits = []
    for _ in range(2):
        with pytest.raises(LLMError) as caught:
            stream(provider, "x") if streamed else provider.complete_sync("x")
        error = caught.value
        assert (error.status, error.retryable, error.message, error.attempts) == (429, True, "slow down", 1)
        assert error.error_type == ("rate_limit_error" if api == "anthropic" else "rate_limit_exceeded")
        waits.append(error.retry_after)
    assert waits == [7.0, 1.5]  # retry-after-ms, when sent, is the more precise
    assert len(server.requests) == 2


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("streamed", [False, True])
def test_bad_request_is_not_retryable_and_keeps_the_providers_words(
        server: FakeLLMServer, api: Api, streamed: bool) -> None:
    server.queue(FakeReply(status=400, error_message="tools.0.name: String should match pattern"))
    provider = server.provider(api, retry=FAST)
    with pytest.raises(LLMError) as caught:
        stream(provider, "x") if streamed else provider.complete_sync("x")
    error = caught.value
    assert (error.status, error.retryable, error.retry_after) == (400, False, None)
    assert error.message == "tools.0.name: String should match pattern"
    assert error.error_type == "invalid_request_error"
    assert len(server.requests) == 1


@pytest.mark.parametrize("api", APIS)
def test_a_stream_cut_after_text_was_shown_raises_a_retryable_error(server: FakeLLMServer, api: Api) -> None:
    server.queue(FakeReply(text="one two three four", disconnect_after=2), "never asked")
    seen: list[str] = []

    async def read() -> None:
        async for event in server.provider(api, retry=FAST).stream("x"):
            if isinstance(event, TextDelta):
                seen.append(event.text)

    with capture_spans() as spans, pytest.raises(LLMError, match="the stream was cut short") as caught:
        asyncio.run(read())
    assert seen == ["one ", "two "]
    assert (caught.value.retryable, caught.value.status) == (True, None)
    assert len(server.requests) == 1  # the caller has half a reply: retrying is its call, not ours
    assert not spans.by_name(f"{api}.chat").status.is_ok


@pytest.mark.parametrize("api", APIS)
def test_a_stream_failing_before_any_text_is_retried(server: FakeLLMServer, api: Api) -> None:
    server.queue(FakeReply(status=503), FakeReply(text="cut", disconnect_after=0), "whole answer")
    with capture_spans() as spans:
        deltas, final = stream(server.provider(api, retry=FAST), "x")
    assert ("".join(deltas), final.text) == ("whole answer", "whole answer")
    assert len(server.requests) == 3
    assert spans.attributes(f"{api}.chat")["neon.llm.attempts"] == 3


def test_one_attempt_only_when_the_caller_owns_retries(server: FakeLLMServer) -> None:
    server.queue(FakeReply(status=529, retry_after_ms=250), "not reached")
    with pytest.raises(LLMError) as caught:
        stream(server.provider("anthropic", max_retries=0), "x")
    assert (caught.value.status, caught.value.retryable, caught.value.retry_after) == (529, True, 0.25)
    assert len(server.requests) == 1


# ---------------------------------------------------------------- scripting agents


def agent_loop(provider: HTTPProvider, messages: list[Any]) -> list[Completion]:
    """A tiny agent: call the model, run the tools it asks for, until it answers."""
    replies = []
    while True:
        reply = provider.complete_sync(messages, tools=[WEATHER])
        replies.append(reply)
        messages.append(reply.message)
        if not reply.tool_calls:
            return replies
        messages += [tool_message(call, f"sunny in {call.arguments['city']}") for call in reply.tool_calls]


@pytest.mark.parametrize("api", APIS)
def test_conversation_script_answers_a_resent_conversation_the_same(api: Api) -> None:
    script = ConversationScript([FakeReply(tool_calls=[FakeToolCall("weather", {"city": "Paris"})]),
                                 FakeReply(status=503), "It is sunny in Paris."])
    with FakeLLMServer(reply=script) as server:
        provider = server.provider(api, retry=FAST)
        messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
        first, final = agent_loop(provider, messages)
        assert final.text == "It is sunny in Paris."
        assert server.requests[-1].tool_results[0]["content"] == "sunny in Paris"
        assert (script.used, script.repeats, len(server.requests)) == (3, 0, 3)  # the 503 was retried

        # After a crash, the first step is sent again: the same answer, the same tool call id.
        again = provider.complete_sync([{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER])
        assert again == first
        assert script.repeats == 1

        with pytest.raises(LLMError, match="ConversationScript has no reply number 4") as caught:
            provider.complete_sync("something new")
        assert caught.value.retryable is False


def test_reply_function_decides_from_the_tool_results() -> None:
    def answer(request: Any) -> str | FakeReply:
        if request.tool_results:
            return f"got {request.tool_results[0]['content']}"
        return FakeReply(tool_calls=[FakeToolCall("weather", {"city": "Oslo"})])

    for api in APIS:
        with FakeLLMServer(reply=answer) as server:
            replies = agent_loop(server.provider(api), [{"role": "user", "content": "Weather in Oslo?"}])
            assert [r.text for r in replies] == ["", "got sunny in Oslo"]


def test_tool_definitions_and_results_are_plain_json() -> None:
    call = ToolCall.from_json("c9", "weather", '{"city": "Lima"}')
    assert json.loads(json.dumps(tool_message(call, ["a", 1]))) == {
        "role": "tool", "tool_call_id": "c9", "name": "weather", "content": '["a", 1]'}
    assert tool_message("c9", "done", is_error=True) == {"role": "tool", "content": "done", "tool_call_id": "c9",
                                                         "is_error": True}
    messages: Sequence[Any] = normalise_messages([{"role": "assistant", "content": "", "tool_calls": [call]}])
    assert messages[0]["tool_calls"] == [{"id": "c9", "name": "weather", "arguments": {"city": "Lima"}}]


# ---------------------------------------------------------------- servers that bend the protocol


def canned(status: int, body: str, content_type: str = "text/event-stream") -> httpx.AsyncClient:
    """A client whose every request gets this answer (httpx's own mock transport: our code runs unchanged)."""
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"content-type": content_type}, content=body.encode())
    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


def sse(*events: Any, names: bool = False) -> str:
    return "".join((f"event: {e['type']}\n" if names else "") + f"data: {json.dumps(e)}\n\n" for e in events)


def test_a_server_that_ignores_stream_answers_in_one_piece() -> None:
    body = json.dumps({"model": "m", "choices": [{"message": {"content": "all at once"}, "finish_reason": "stop"}]})
    provider = OpenAIProvider("m", base_url="http://llm.invalid/v1",
                              http_client=canned(200, body, "application/json"))
    deltas, final = stream(provider, "x")
    assert (deltas, final.text, final.finish_reason) == (["all at once"], "all at once", "stop")


def test_an_openai_stream_without_done_ends_at_its_finish_reason() -> None:
    body = sse({"model": "m", "choices": [{"index": 0, "delta": {"content": "hi"}}]},
               {"model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    provider = OpenAIProvider("m", base_url="http://llm.invalid/v1", http_client=canned(200, body))
    assert stream(provider, "x")[1] == Completion(text="hi", model="m", finish_reason="stop")

    cut = sse({"model": "m", "choices": [{"index": 0, "delta": {"content": "hi"}}]})
    provider = OpenAIProvider("m", base_url="http://llm.invalid/v1", http_client=canned(200, cut), max_retries=0)
    with pytest.raises(LLMError, match="ended before the reply was complete") as caught:
        stream(provider, "x")
    assert caught.value.retryable


def test_an_error_inside_an_anthropic_stream_is_raised_with_its_type() -> None:
    body = sse({"type": "message_start", "message": {"model": "c", "usage": {"input_tokens": 3}}},
               {"type": "ping"},
               {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, names=True)
    provider = AnthropicProvider("c", base_url="http://llm.invalid", http_client=canned(200, body), max_retries=0)
    with pytest.raises(LLMError, match="anthropic: overloaded_error: Overloaded") as caught:
        stream(provider, "x")
    assert (caught.value.error_type, caught.value.retryable) == ("overloaded_error", True)


def test_server_sent_events_are_read_per_the_format() -> None:
    async def read(text: str) -> list[SSEEvent]:
        async def lines() -> AsyncIterator[str]:
            for line in text.split("\n"):
                yield line
        return [event async for event in iter_sse(lines())]

    events = asyncio.run(read(": a comment\nevent: delta\ndata: one\ndata:two\n\n\ndata: last"))
    assert events == [SSEEvent("delta", "one\ntwo"), SSEEvent("message", "last")]
