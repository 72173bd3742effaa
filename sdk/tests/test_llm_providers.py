"""LLM providers against the fake server: real HTTP on 127.0.0.1, both API shapes, retries, timeouts, spans."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from email.utils import formatdate

import pytest
from opentelemetry.trace import StatusCode

from neon.llm import AnthropicProvider, LLMConfigError, LLMError, OpenAIProvider, RetryPolicy, get_provider
from neon.llm.base import parse_retry_after
from neon.llm.fake import FakeLLMServer, FakeReply, FakeRequest
from neon.testing import capture_spans
from neon.tracing import attributes as A

FAST = RetryPolicy(max_retries=2, backoff=0.01, max_backoff=0.05)


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as running:
        yield running


def test_openai_request_and_reply(server: FakeLLMServer) -> None:
    server.queue(FakeReply(text="hello there", input_tokens=12, output_tokens=3, model="gpt-x-2024"))
    provider = server.provider("openai", model="gpt-x")
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    reply = asyncio.run(provider.complete(messages, temperature=0.0, max_tokens=50, json=True))
    assert (reply.text, reply.model, reply.input_tokens, reply.output_tokens, reply.finish_reason) == (
        "hello there", "gpt-x-2024", 12, 3, "stop")
    [request] = server.requests
    assert (request.api, request.path) == ("openai", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer fake-key"
    assert request.body == {"model": "gpt-x", "messages": messages, "temperature": 0.0, "max_tokens": 50,
                            "response_format": {"type": "json_object"}}


def test_anthropic_request_and_reply(server: FakeLLMServer) -> None:
    server.queue(FakeReply(text="bonjour", input_tokens=7, output_tokens=1))
    provider = server.provider("anthropic", model="claude-x")
    reply = asyncio.run(provider.complete([{"role": "system", "content": "be brief"},
                                           {"role": "user", "content": "hi"}], json=True))
    assert (reply.text, reply.model, reply.input_tokens, reply.output_tokens, reply.finish_reason) == (
        "bonjour", "claude-x", 7, 1, "end_turn")
    [request] = server.requests
    assert (request.api, request.path) == ("anthropic", "/v1/messages")
    assert request.headers["x-api-key"] == "fake-key"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.body["messages"] == [{"role": "user", "content": "hi"}]  # system moved out of the list
    assert request.body["system"].startswith("be brief")
    assert "JSON" in request.system
    assert request.body["max_tokens"] == 1024  # required by the API: a default is always sent


def test_plain_string_is_one_user_message_and_default_reply_echoes(server: FakeLLMServer) -> None:
    reply = server.provider("openai").complete_sync("repeat me")
    assert reply.text == "repeat me"
    assert server.requests[0].messages == [{"role": "user", "content": "repeat me"}]


def test_reply_function_sees_the_request() -> None:
    def answer(request: FakeRequest) -> str:
        return f"{request.api}:{request.body['model']}:{request.last_user_message.upper()}"

    with FakeLLMServer(reply=answer) as server:
        assert server.provider("anthropic", model="m").complete_sync("ok").text == "anthropic:m:OK"
        assert server.provider("openai", model="n").complete_sync("ok").text == "openai:n:OK"


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_every_call_is_a_generation_span_with_usage(server: FakeLLMServer, api: str) -> None:
    server.queue(FakeReply(text="the answer", input_tokens=20, output_tokens=2))
    provider = server.provider(api, model="m-1")  # type: ignore[arg-type]
    with capture_spans() as spans:
        provider.complete_sync([{"role": "user", "content": "question"}], temperature=0.2, span_name="judge")
    attrs = spans.attributes("judge")
    assert attrs[A.SPAN_TYPE] == "generation"
    assert (attrs[A.MODEL], attrs[A.PROVIDER], attrs[A.RESPONSE_MODEL], attrs[A.TEMPERATURE]) == (
        "m-1", api, "m-1", 0.2)
    assert (attrs[A.INPUT_TOKENS], attrs[A.OUTPUT_TOKENS]) == (20, 2)
    assert json.loads(attrs[A.INPUT]) == [{"role": "user", "content": "question"}]
    assert attrs[A.OUTPUT] == "the answer"
    assert attrs[A.FINISH_REASONS] == ("stop",) if api == "openai" else ("end_turn",)


def test_429_with_retry_after_is_waited_then_retried(server: FakeLLMServer) -> None:
    server.fail(429, retry_after="0.3", message="slow down").queue("finally")
    provider = server.provider("openai", retry=FAST)
    with capture_spans() as spans:
        started = time.perf_counter()
        reply = provider.complete_sync("x")
        elapsed = time.perf_counter() - started
    assert reply.text == "finally"
    assert len(server.requests) == 2
    assert elapsed >= 0.3  # the header, not the 10 ms backoff, decided the wait
    span = spans.by_name("openai.chat")
    assert span.attributes is not None
    assert span.attributes["neon.llm.attempts"] == 2
    [event] = [e for e in span.events if e.name == "retry"]
    assert event.attributes is not None
    assert event.attributes["status"] == 429


@pytest.mark.parametrize("status", [500, 502, 503, 529])
def test_server_errors_are_retried(server: FakeLLMServer, status: int) -> None:
    server.fail(status, times=2).queue("ok")
    assert server.provider("anthropic", retry=FAST).complete_sync("x").text == "ok"
    assert len(server.requests) == 3


def test_gives_up_after_max_retries_with_a_clear_error(server: FakeLLMServer) -> None:
    server.fail(503, times=5, message="upstream overloaded")
    provider = server.provider("openai", retry=FAST)
    with capture_spans() as spans, pytest.raises(LLMError) as caught:
        provider.complete_sync("x")
    error = caught.value
    assert (error.provider, error.status, error.message, error.attempts) == ("openai", 503, "upstream overloaded", 3)
    assert str(error) == "openai: HTTP 503: upstream overloaded (after 3 attempts)"
    assert len(server.requests) == 3
    span = spans.by_name("openai.chat")
    assert span.status.status_code is StatusCode.ERROR
    assert "upstream overloaded" in (span.status.description or "")


def test_max_retries_zero_makes_one_attempt(server: FakeLLMServer) -> None:
    server.fail(429, retry_after="5").queue("never reached")
    with pytest.raises(LLMError) as caught:
        server.provider("anthropic", max_retries=0).complete_sync("x")
    assert caught.value.status == 429
    assert "anthropic" in str(caught.value)
    assert len(server.requests) == 1


def test_client_errors_are_not_retried(server: FakeLLMServer) -> None:
    server.fail(400, message="model 'nope' does not exist")
    with pytest.raises(LLMError, match=r"openai: HTTP 400: model 'nope' does not exist$"):
        server.provider("openai", retry=FAST).complete_sync("x")
    assert len(server.requests) == 1


def test_timeout_is_retried_then_reported(server: FakeLLMServer) -> None:
    server.queue(FakeReply(text="late", delay=1.0), "on time")
    assert server.provider("openai", timeout=0.3, retry=FAST).complete_sync("x").text == "on time"

    server.queue(FakeReply(text="late", delay=1.0))
    with pytest.raises(LLMError, match=r"openai: no response: timed out after 0.3 s") as caught:
        server.provider("openai", timeout=0.3, max_retries=0).complete_sync("x")
    assert caught.value.status is None


def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = OpenAIProvider("m", base_url=f"http://127.0.0.1:{port}/v1", retry=FAST)
    with pytest.raises(LLMError, match="cannot reach") as caught:
        provider.complete_sync("x")
    assert caught.value.attempts == 3


def test_sync_wrapper_works_inside_a_running_loop(server: FakeLLMServer) -> None:
    async def inside() -> str:
        return server.provider("openai").complete_sync("from a loop").text

    assert asyncio.run(inside()) == "from a loop"


def test_concurrent_calls(server: FakeLLMServer) -> None:
    provider = server.provider("anthropic")

    async def many() -> list[str]:
        replies = await asyncio.gather(*[provider.complete(f"n{i}") for i in range(8)])
        return [r.text for r in replies]

    assert asyncio.run(many()) == [f"n{i}" for i in range(8)]


def test_retry_after_parsing() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    in_ten = parse_retry_after(formatdate(time.time() + 10, usegmt=True))
    assert in_ten is not None
    assert 8 <= in_ten <= 10
    assert RetryPolicy(max_retry_after=3).delay(1, 100) == 3  # a huge Retry-After is capped
    assert all(0.5 <= RetryPolicy(backoff=1).delay(1, None) <= 1 for _ in range(20))  # jittered, bounded
    assert all(2 <= RetryPolicy(backoff=1).delay(3, None) <= 4 for _ in range(20))


# ---------------------------------------------------------------- configuration


def test_get_provider_from_a_spec_and_arguments() -> None:
    provider = get_provider("openai:gpt-4o-mini", api_key="k", env={})
    assert isinstance(provider, OpenAIProvider)
    assert (provider.model, provider.base_url, provider.api_key) == ("gpt-4o-mini", "https://api.openai.com/v1", "k")
    local = get_provider("openai:llama3:8b", base_url="http://127.0.0.1:11434/v1", env={})
    assert (local.model, local.api_key) == ("llama3:8b", None)  # a local server needs no key
    anthropic = get_provider("anthropic", model="claude-x", env={"ANTHROPIC_API_KEY": "a"}, max_retries=0)
    assert isinstance(anthropic, AnthropicProvider)
    assert anthropic.retry.max_retries == 0


def test_get_provider_from_the_environment() -> None:
    env = {"NEON_LLM_PROVIDER": "anthropic", "NEON_LLM_MODEL": "claude-y", "ANTHROPIC_API_KEY": "a",
           "ANTHROPIC_BASE_URL": "http://127.0.0.1:9/"}
    provider = get_provider(env=env)
    assert isinstance(provider, AnthropicProvider)
    assert (provider.model, provider.base_url, provider.api_key) == ("claude-y", "http://127.0.0.1:9", "a")
    assert get_provider(env={"NEON_LLM_MODEL": "openai:gpt-z", "OPENAI_API_KEY": "o"}).model == "gpt-z"
    guessed = get_provider("gpt-w", env={"OPENAI_API_KEY": "o"})  # only one provider configured
    assert (guessed.name, guessed.model) == ("openai", "gpt-w")


@pytest.mark.parametrize(("spec", "env", "message"), [
    (None, {}, "no LLM provider.*NEON_LLM_PROVIDER"),
    ("openai", {"OPENAI_API_KEY": "o"}, "no model for openai.*NEON_LLM_MODEL"),
    ("openai:gpt", {}, "no API key for openai: set OPENAI_API_KEY"),
    ("anthropic:claude", {}, "no API key for anthropic: set ANTHROPIC_API_KEY"),
    (None, {"NEON_LLM_PROVIDER": "cohere", "NEON_LLM_MODEL": "x"}, "unknown LLM provider 'cohere'"),
])
def test_get_provider_says_what_is_missing(spec: str | None, env: dict[str, str], message: str) -> None:
    with pytest.raises(LLMConfigError, match=message):
        get_provider(spec, env=env)
