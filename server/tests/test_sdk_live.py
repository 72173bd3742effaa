"""The SDK against a live server: the example agent's trace arrives nested, with tokens, cost and tools."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType

import pytest

import neon
from neon.tracing import config as neon_config
from neon_server.storage.analytics import AnalyticsDB
from server.tests.conftest import LiveServer, free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support_agent.py"


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'neon.db'}"


@pytest.fixture
def fresh_sdk() -> object:
    saved = neon_config.current()
    yield None
    neon_config.restore(saved)


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("support_agent", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_agent_trace_lands_nested(live_server: LiveServer, project_key: tuple[str, str],
                                          analytics: AnalyticsDB, monkeypatch: pytest.MonkeyPatch,
                                          fresh_sdk: object) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    monkeypatch.setenv("NEON_BASE_URL", live_server.url)
    monkeypatch.setenv("NEON_API_KEY", project_key[1])
    example = load_example()
    provider = TracerProvider()
    configure = neon.configure  # the example configures the SDK; give it a provider of this test's own
    monkeypatch.setattr(example.neon, "configure", lambda **kw: configure(tracer_provider=provider, **kw))
    reply = example.main()
    assert reply.startswith("Your balance is 42 EUR")
    provider.shutdown()
    live_server.settle()

    [trace_id] = [r["trace_id"] for r in analytics.query(
        "SELECT DISTINCT trace_id FROM spans WHERE project_id = {p:String}", tag="tests.sdk",
        params={"p": project_key[0]})]
    with neon.NeonClient(live_server.url, project_key[1]) as client:  # read back through the API
        stored = client.get_trace(trace_id)
    rows = stored["spans"]
    assert (stored["trace"]["llm_call_count"], stored["trace"]["tool_call_count"]) == (1, 2)
    assert stored["trace"]["total_tokens"] == 812 + 64
    spans = {r["name"]: r for r in rows}
    root = spans["support-agent"]
    assert (root["span_type"], root["parent_span_id"], root["session_id"], root["agent_id"]) == (
        "agent", "", "chat-42", "support-agent")
    plan = spans["plan"]
    assert (plan["span_type"], plan["model"], plan["input_tokens"]) == ("generation", "gpt-4o", 812)
    assert plan["cost"] == pytest.approx((812 * 2.5 + 64 * 10) / 1e6)
    tools = [r for r in rows if r["span_type"] == "tool"]
    assert sorted(t["tool_name"] for t in tools) == ["lookup_balance", "lookup_policy"]
    assert {r["parent_span_id"] for r in rows if r is not root} == {root["span_id"]}
    assert len({r["trace_id"] for r in rows}) == 1


def test_dead_server_never_blocks_or_breaks_the_program(fresh_sdk: object) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    neon.configure(tracer_provider=provider, base_url=f"http://127.0.0.1:{free_port()}", api_key="neon_sk_x")

    @neon.tool()
    def work(n: int) -> int:
        return n * 2

    started = time.perf_counter()
    with neon.trace("run"):
        assert [work(i) for i in range(200)] == [2 * i for i in range(200)]
    recorded = time.perf_counter() - started
    assert recorded < 1.0  # recording never waits for the network
    asyncio.run(asyncio.sleep(0))
    neon.flush(timeout_millis=2000)  # gives up; does not raise
    provider.shutdown()


def test_scores_from_the_sdk_and_the_api(live_server: LiveServer, project_key: tuple[str, str],
                                         analytics: AnalyticsDB, monkeypatch: pytest.MonkeyPatch,
                                         fresh_sdk: object) -> None:
    import httpx
    from opentelemetry.sdk.trace import TracerProvider

    monkeypatch.setenv("NEON_BASE_URL", live_server.url)
    monkeypatch.setenv("NEON_API_KEY", project_key[1])
    provider = TracerProvider()
    neon.configure(tracer_provider=provider, export=False)
    with neon.trace("run") as run:
        with neon.tool("search") as step:
            step_score = neon.score("relevance", 0.8, reason="mostly on topic", evidence={"hits": 3})
        trace_score = neon.score("passed", True, trace_id=run.trace_id)
    assert step_score is not None
    assert trace_score is not None
    provider.shutdown()

    response = httpx.post(f"{live_server.url}/api/scores", headers={"x-api-key": project_key[1]}, json=[
        {"trace_id": run.trace_id, "name": "tone", "value": "friendly", "source": "annotation", "score_id": "s-1"},
        {"trace_id": run.trace_id, "name": "tone", "value": "formal", "source": "annotation", "score_id": "s-1"}])
    assert response.status_code == 201
    assert response.json()["score_ids"] == ["s-1", "s-1"]
    rows = analytics.query(
        "SELECT name, value, string_value, data_type, source, span_id, reason, evidence FROM scores FINAL "
        "WHERE project_id = {p:String} ORDER BY name", tag="tests.scores", params={"p": project_key[0]})
    by_name = {r["name"]: r for r in rows}
    assert (by_name["relevance"]["value"], by_name["relevance"]["data_type"], by_name["relevance"]["source"]) == (
        0.8, 1, 2)  # Enum8 codes: numeric = 1, source sdk = 2
    assert by_name["relevance"]["span_id"] == step.span_id
    assert by_name["relevance"]["evidence"] == '{"hits": 3}'
    assert (by_name["passed"]["value"], by_name["passed"]["data_type"], by_name["passed"]["span_id"]) == (1.0, 3, "")
    assert by_name["tone"]["string_value"] == "formal"  # the same score id replaced the first
    assert len([r for r in rows if r["name"] == "tone"]) == 1

    listed = httpx.get(f"{live_server.url}/api/scores", params={"trace_id": run.trace_id, "limit": 2},
                       headers={"x-api-key": project_key[1]}).json()
    rest = httpx.get(f"{live_server.url}/api/scores", params={"trace_id": run.trace_id, "limit": 2,
                                                              "cursor": listed["next_cursor"]},
                     headers={"x-api-key": project_key[1]}).json()
    every = listed["scores"] + rest["scores"]
    assert sorted(s["name"] for s in every) == ["passed", "relevance", "tone"]
    assert rest["next_cursor"] is None
    values = {s["name"]: s["value"] for s in every}
    assert values == {"passed": True, "relevance": 0.8, "tone": "formal"}
    only_sdk = httpx.get(f"{live_server.url}/api/scores", params={"source": "sdk"},
                         headers={"x-api-key": project_key[1]}).json()["scores"]
    assert sorted(s["name"] for s in only_sdk) == ["passed", "relevance"]

    bad = httpx.post(f"{live_server.url}/api/scores", headers={"x-api-key": project_key[1]},
                     json={"trace_id": "nope", "name": "x", "value": 1})
    assert bad.status_code == 422
    assert "trace_id: must be 32 hex characters, or a UUID, got 'nope'" in bad.json()["error"]["message"]
    with neon.NeonClient(live_server.url, "neon_sk_bad") as bad_client:
        assert neon.score("x", 1, trace_id=run.trace_id, client=bad_client) is None  # refused: logged, not raised


def test_trace_detail_and_offline_breakpoints_over_a_stored_trace(
        live_server: LiveServer, project_key: tuple[str, str], fresh_sdk: object) -> None:
    import httpx
    from opentelemetry.sdk.trace import TracerProvider

    from neon.breakpoints import BreakpointManager, capture, define_breakpoint, evaluate_stored_trace, on_tool

    provider = TracerProvider()
    neon.configure(tracer_provider=provider, base_url=live_server.url, api_key=project_key[1])
    with neon.trace("nightly run", session_id="n-1") as run:
        with neon.generation("plan", model="gpt-4o", messages=[{"role": "user", "content": "go"}]) as g:
            g.set_output("search twice").set_usage(input_tokens=50, output_tokens=5)
        for query in ("a", "b"):
            try:
                with neon.tool("search", input={"q": query}):
                    if query == "b":
                        raise TimeoutError("search backend timed out")
            except TimeoutError:
                pass
    provider.shutdown()

    client = neon.NeonClient(live_server.url, project_key[1])
    stored = client.get_trace(run.trace_id)
    summary, spans = stored["trace"], stored["spans"]
    assert (summary["name"], summary["span_count"], summary["error_count"], summary["status"]) == (
        "nightly run", 4, 1, "error")
    assert summary["session_id"] == "n-1"
    assert [s["name"] for s in spans] == ["nightly run", "plan", "search", "search"]
    assert "input" not in spans[1]  # light: payloads come separately
    payload = client.get_span_payload(run.trace_id, spans[1]["span_id"])
    assert payload["output"] == "search twice"

    manager = BreakpointManager()
    manager.register(define_breakpoint("failed-search", on_tool("search"), triggers="error", actions=[capture()]))
    hits = evaluate_stored_trace(run.trace_id, client=client, manager=manager)
    assert [(h.breakpoint, h.trigger) for h in hits] == [("failed-search", "error")]
    assert manager.captured("failed-search")[0].span.status_message == "TimeoutError: search backend timed out"
    assert manager.captured("failed-search")[0].trace.name == "nightly run"

    other = live_server.services.projects.create("someone-else")
    _key, other_secret = live_server.services.keys.create(other.id)
    hidden = httpx.get(f"{live_server.url}/api/traces/{run.trace_id}", headers={"x-api-key": other_secret})
    assert hidden.status_code == 404  # another project's key does not see this trace
    bad = httpx.get(f"{live_server.url}/api/traces/not-an-id", headers={"x-api-key": project_key[1]})
    assert bad.status_code == 422
    client.close()


def test_every_kind_of_callable_traced_into_a_live_server(live_server: LiveServer, project_key: tuple[str, str],
                                                         fresh_sdk: object) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    neon.configure(tracer_provider=provider, base_url=live_server.url, api_key=project_key[1])

    @neon.tool()
    def sync_tool(x: int) -> int:
        return x + 1

    @neon.retrieval("async retrieval")
    async def async_retrieval(q: str) -> list[str]:
        await asyncio.sleep(0)
        return [q.upper()]

    @neon.generation("stream", model="gpt-4o-mini")
    def stream() -> Iterator[str]:
        yield "to"
        yield "ken"

    @neon.generation("astream", model="gpt-4o-mini")
    async def astream() -> AsyncIterator[str]:
        yield "a"

    @neon.tool()
    def broken() -> None:
        raise ValueError("bad input")

    async def agent() -> None:
        with neon.trace("everything") as root:
            sync_tool(1)
            await async_retrieval("docs")
            assert "".join(stream()) == "token"
            assert [x async for x in astream()] == ["a"]
            with ThreadPoolExecutor(2) as pool:
                assert list(pool.map(neon.bind_context(sync_tool), [5, 6])) == [6, 7]
            with pytest.raises(ValueError, match="bad input"):
                broken()
            holder.append(root.trace_id)

    holder: list[str] = []
    asyncio.run(agent())
    provider.shutdown()
    with neon.NeonClient(live_server.url, project_key[1]) as client:
        stored = client.get_trace(holder[0])
    spans = stored["spans"]
    root = next(s for s in spans if s["name"] == "everything")
    assert {s["parent_span_id"] for s in spans if s is not root} == {root["span_id"]}
    by_type: dict[str, list[str]] = {}
    for s in spans:
        by_type.setdefault(s["span_type"], []).append(s["name"])
    assert sorted(by_type["tool"]) == ["broken", "sync_tool", "sync_tool", "sync_tool"]
    assert by_type["retrieval"] == ["async retrieval"]
    assert sorted(by_type["generation"]) == ["astream", "stream"]
    failed = next(s for s in spans if s["name"] == "broken")
    assert (failed["status"], failed["status_message"]) == ("error", "ValueError: bad input")
    assert stored["trace"]["error_count"] == 1
    with neon.NeonClient(live_server.url, project_key[1]) as client:
        streamed = next(s for s in spans if s["name"] == "stream")
        assert client.get_span_payload(holder[0], streamed["span_id"])["output"] == "token"
