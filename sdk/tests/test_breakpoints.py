"""Breakpoints: every matcher, trigger, action and hit condition, live (span start/end) and offline."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import neon
from neon.breakpoints import (
    BreakpointContext,
    BreakpointManager,
    SpanInfo,
    TraceInfo,
    add_breakpoint,
    after,
    always,
    and_,
    capture,
    custom,
    define_breakpoint,
    evaluate_breakpoints,
    every,
    get_manager,
    log_action,
    not_,
    notify,
    nth,
    on_attribute,
    on_attributes,
    on_component_type,
    on_condition,
    on_error,
    on_model,
    on_span_name,
    on_span_name_glob,
    on_span_type,
    on_status,
    on_success,
    on_tool,
    or_,
    remove_breakpoint,
    reset_manager,
    until,
)
from neon.testing import capture_spans

LLM = SpanInfo(name="chat gpt-4o", span_type="generation", model="gpt-4o-2024-08-06", status="ok",
               attributes={"gen_ai.provider.name": "openai", "tier": "gold"}, trace_id="t1", span_id="s2",
               parent_span_id="s1")
TOOL = SpanInfo(name="tools.search.web", span_type="tool", tool_name="web_search", status="error",
                component_type="", attributes={"attempt": 2}, trace_id="t1", span_id="s3", parent_span_id="s1")
PLAN = SpanInfo(name="agent/plan", span_type="span", component_type="planning", trace_id="t1", span_id="s4",
                parent_span_id="s1")


@pytest.fixture(autouse=True)
def fresh_global_manager() -> Iterator[BreakpointManager]:
    yield reset_manager()
    reset_manager()


@pytest.mark.parametrize(("matcher", "matches"), [
    (on_span_type("generation"), [LLM]),
    (on_span_type("tool", "span"), [TOOL, PLAN]),
    (on_component_type("planning"), [PLAN]),
    (on_span_name("agent/plan"), [PLAN]),
    (on_span_name(re.compile(r"^chat ")), [LLM]),
    (on_span_name_glob("tools.*.web"), [TOOL]),
    (on_span_name_glob("tools.*"), []),  # * stays within a segment
    (on_span_name_glob("tools.**"), [TOOL]),
    (on_span_name_glob("agent/pla?"), [PLAN]),
    (on_tool(), [TOOL]),
    (on_tool("web_search"), [TOOL]),
    (on_tool(re.compile("search$")), [TOOL]),
    (on_tool("other"), []),
    (on_model("gpt-4o"), []),  # exact
    (on_model(re.compile(r"^gpt-4o")), [LLM]),
    (on_error(), [TOOL]),
    (on_success(), [LLM, PLAN]),
    (on_status("ok"), [LLM]),
    (on_attribute("tier"), [LLM]),
    (on_attribute("tier", "gold"), [LLM]),
    (on_attribute("attempt", 2), [TOOL]),
    (on_attribute("gen_ai.provider.name", re.compile("open")), [LLM]),
    (on_attributes({"tier": "gold", "gen_ai.provider.name": "openai"}), [LLM]),
    (on_condition(lambda s: s.attributes.get("attempt", 0) > 1), [TOOL]),
    (on_condition(lambda s: 1 / 0 > 0), []),  # a failing predicate matches nothing
    (and_(on_span_type("tool"), on_error()), [TOOL]),
    (or_(on_span_type("generation"), on_component_type("planning")), [LLM, PLAN]),
    (not_(on_span_type("tool")), [LLM, PLAN]),
    (and_(or_(on_tool(), on_model(re.compile("gpt"))), not_(on_error())), [LLM]),  # nested
    (on_tool() | on_component_type("planning"), [TOOL, PLAN]),
    (~on_error() & on_span_type("span"), [PLAN]),
])
def test_matchers(matcher: Any, matches: list[SpanInfo]) -> None:
    assert [s for s in (LLM, TOOL, PLAN) if matcher(s)] == matches


@pytest.mark.parametrize(("condition", "fires_on"), [
    (always(), [1, 2, 3, 4, 5, 6]), (nth(3), [3]), (every(2), [2, 4, 6]), (after(4), [5, 6]), (until(2), [1, 2]),
])
def test_hit_conditions(condition: Any, fires_on: list[int]) -> None:
    manager = BreakpointManager()
    manager.register(define_breakpoint("bp", on_tool(), hit_condition=condition))
    fired = [i for i in range(1, 7) if manager.evaluate(TOOL)]
    assert fired == fires_on
    assert manager.hit_count("bp") == 6
    manager.reset_hits("bp")
    assert manager.hit_count("bp") == 0


def test_triggers_and_manager_operations() -> None:
    manager = BreakpointManager()
    enter = define_breakpoint("enter", on_span_type("generation"), triggers="enter")
    both = define_breakpoint("both", on_span_type("generation"), triggers=["enter", "exit"])
    errors = define_breakpoint("errors", on_tool(), triggers="error")
    manager.register_all([enter, both, errors])
    assert [h.breakpoint for h in manager.evaluate(LLM, trigger="enter")] == ["enter", "both"]
    assert [h.breakpoint for h in manager.evaluate(LLM, trigger="exit")] == ["both"]
    assert [h.breakpoint for h in manager.evaluate(TOOL, trigger="error")] == ["errors"]
    manager.disable("both")
    assert [b.name for b in manager.get_enabled()] == ["enter", "errors"]
    assert manager.evaluate(LLM, trigger="exit") == []
    manager.enable("both")
    assert manager.get("both") is both
    assert len(manager.get_all()) == 3
    assert manager.unregister("enter") is True
    assert manager.unregister("enter") is False
    with pytest.raises(KeyError, match="no breakpoint named 'nope'"):
        manager.disable("nope")
    with pytest.raises(ValueError, match="triggers must be some of"):
        define_breakpoint("x", on_tool(), triggers="sometimes")  # type: ignore[arg-type]
    manager.clear()
    assert manager.get_all() == []


def test_actions_log_capture_notify_custom(caplog: pytest.LogCaptureFixture) -> None:
    manager = BreakpointManager()
    seen: list[BreakpointContext] = []
    async_seen: list[str] = []

    async def async_handler(ctx: BreakpointContext) -> None:
        await asyncio.sleep(0)
        async_seen.append(ctx.span.name)

    class Store:
        def __init__(self) -> None:
            self.items: list[BreakpointContext] = []

        def add(self, ctx: BreakpointContext) -> None:
            self.items.append(ctx)

    store = Store()
    manager.register(define_breakpoint("failing-tools", on_error(), triggers=["exit", "error"], actions=[
        log_action("{{breakpoint.name}}: {{span.name}} ({{span.tool_name}}, attempt {{span.attributes.attempt}}) "
                   "in {{trace.trace_id}} hit {{hit_count}} on {{trigger}}{{span.nope}}", level="WARNING"),
        capture(), capture(store), notify(seen.append), custom(async_handler)]))
    with caplog.at_level(logging.WARNING, logger="neon.breakpoints"):
        manager.evaluate(TOOL, TraceInfo(trace_id="t1", name="run"), "exit")
        manager.evaluate(TOOL, TraceInfo(trace_id="t1", name="run"), "error")
    assert manager.wait_idle()
    assert "failing-tools: tools.search.web (web_search, attempt 2) in t1 hit 1 on exit" in caplog.text
    assert "hit 2 on error" in caplog.text
    assert [c.trigger for c in manager.captured("failing-tools")] == ["exit", "error"]
    assert len(store.items) == 2
    assert [(c.hit_count, c.trigger, c.breakpoint.name) for c in seen] == [(1, "exit", "failing-tools"),
                                                                           (2, "error", "failing-tools")]
    assert seen[0].timestamp <= time.time()
    assert async_seen == ["tools.search.web", "tools.search.web"]
    manager.clear_captured("failing-tools")
    assert manager.captured() == []


def test_slow_or_failing_handlers_never_break_the_traced_program() -> None:
    release = threading.Event()

    def slow(ctx: BreakpointContext) -> None:
        release.wait(5)

    def broken(ctx: BreakpointContext) -> None:
        raise RuntimeError("handler bug")

    add_breakpoint(define_breakpoint("slow", on_span_type("tool"), actions=[notify(slow), notify(broken)]))
    with capture_spans() as spans:
        started = time.perf_counter()
        for i in range(20):
            with neon.tool(f"t{i}"):
                pass
        elapsed = time.perf_counter() - started
    assert elapsed < 1.0  # the slow handler runs on its own thread
    assert len(spans.finished()) == 20
    release.set()
    manager = get_manager()
    assert manager.wait_idle()
    assert len(manager.errors) == 20
    assert "RuntimeError: handler bug" in manager.errors[0][1]


def test_breakpoints_fire_live_on_enter_exit_and_error() -> None:
    events: list[tuple[str, str]] = []
    add_breakpoint(define_breakpoint("llm-enter", on_span_type("generation"), triggers="enter",
                                     actions=[notify(lambda c: events.append(("enter", c.span.name)))]))
    add_breakpoint(define_breakpoint("tool-fail", on_tool("fetch"), triggers="error",
                                     actions=[capture()]))
    with capture_spans(), neon.trace("run"):
        with neon.generation("plan", model="gpt-4o"):
            pass
        with pytest.raises(OSError, match="down"), neon.tool("fetch"):
            raise OSError("down")
    manager = get_manager()
    assert manager.wait_idle()
    assert events == [("enter", "plan")]
    [ctx] = manager.captured("tool-fail")
    assert ctx.span.status == "error"
    assert ctx.span.status_message == "OSError: down"
    assert remove_breakpoint("tool-fail") is True


def test_offline_evaluation_over_a_stored_trace() -> None:
    stored = [
        {"trace_id": "t9", "span_id": "r", "name": "agent", "span_type": "agent", "status": "ok"},
        {"trace_id": "t9", "span_id": "a", "parent_span_id": "r", "name": "search", "span_type": "tool",
         "tool_name": "search", "status": "error", "duration_ns": 5_000_000},
        {"trace_id": "t9", "span_id": "b", "parent_span_id": "r", "name": "search", "span_type": "tool",
         "tool_name": "search", "status": "ok"},
    ]
    manager = BreakpointManager()
    manager.register(define_breakpoint("search-errors", on_tool("search") & on_error(), triggers=["enter", "error"],
                                       actions=[capture()]))
    hits = evaluate_breakpoints(stored, manager=manager)
    assert [(h.trigger, h.hit_count) for h in hits] == [("enter", 1), ("error", 2)]
    captured = manager.captured("search-errors")
    assert captured[0].trace.name == "agent"
    assert captured[0].span.duration_ms == 5.0
