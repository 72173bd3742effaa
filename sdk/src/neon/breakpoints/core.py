"""Breakpoints and their manager; live evaluation hooked into span start and end."""

from __future__ import annotations

import asyncio
import queue
import threading
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from neon.breakpoints.actions import Action, BreakpointContext, HitCondition, Trigger, always, log, now
from neon.breakpoints.matchers import Matcher
from neon.breakpoints.spans import SpanInfo, TraceInfo

TRIGGERS: tuple[Trigger, ...] = ("enter", "exit", "error")


@dataclass
class Breakpoint:
    name: str
    matcher: Matcher
    triggers: tuple[Trigger, ...] = ("exit",)
    actions: list[Action] = field(default_factory=list)
    hit_condition: HitCondition = field(default_factory=always)
    enabled: bool = True
    _manager: BreakpointManager | None = field(default=None, repr=False)

    def manager_capture(self, ctx: BreakpointContext) -> None:
        if self._manager is not None:
            self._manager._capture(ctx)


def define_breakpoint(name: str, matcher: Matcher, *, triggers: Trigger | Sequence[Trigger] = "exit",
                      actions: Sequence[Action] = (), hit_condition: HitCondition | None = None,
                      enabled: bool = True) -> Breakpoint:
    wanted = (triggers,) if isinstance(triggers, str) else tuple(triggers)
    unknown = [t for t in wanted if t not in TRIGGERS]
    if unknown or not wanted:
        raise ValueError(f"triggers must be some of {TRIGGERS}, got {wanted!r}")
    return Breakpoint(name=name, matcher=matcher, triggers=wanted, actions=list(actions),
                      hit_condition=hit_condition or always(), enabled=enabled)


@dataclass(frozen=True)
class Hit:
    """A breakpoint that fired."""

    breakpoint: str
    trigger: Trigger
    hit_count: int
    span_name: str


class BreakpointManager:
    """Holds breakpoints, counts their hits, keeps captures, and runs actions without disturbing the program."""

    def __init__(self, handler_queue_size: int = 1000) -> None:
        self._breakpoints: dict[str, Breakpoint] = {}
        self._hits: dict[str, int] = {}
        self._captured: dict[str, list[BreakpointContext]] = {}
        self._lock = threading.RLock()
        self.errors: list[tuple[str, str]] = []  # (breakpoint, traceback) of handlers that raised
        self.dropped = 0  # handler runs dropped because the handler queue was full
        self._queue: queue.Queue[tuple[Action, BreakpointContext] | None] = queue.Queue(handler_queue_size)
        self._worker: threading.Thread | None = None
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    # ---------------------------------------------------------- registry
    def register(self, bp: Breakpoint) -> Breakpoint:
        with self._lock:
            bp._manager = self
            self._breakpoints[bp.name] = bp
            self._hits.setdefault(bp.name, 0)
        return bp

    def register_all(self, bps: Iterable[Breakpoint]) -> list[Breakpoint]:
        return [self.register(bp) for bp in bps]

    def unregister(self, name: str) -> bool:
        with self._lock:
            self._hits.pop(name, None)
            return self._breakpoints.pop(name, None) is not None

    def enable(self, name: str) -> None:
        self._get(name).enabled = True

    def disable(self, name: str) -> None:
        self._get(name).enabled = False

    def get(self, name: str) -> Breakpoint | None:
        return self._breakpoints.get(name)

    def get_all(self) -> list[Breakpoint]:
        return list(self._breakpoints.values())

    def get_enabled(self) -> list[Breakpoint]:
        return [bp for bp in self._breakpoints.values() if bp.enabled]

    def hit_count(self, name: str) -> int:
        return self._hits.get(name, 0)

    def reset_hits(self, name: str | None = None) -> None:
        with self._lock:
            for key in [name] if name is not None else list(self._hits):
                self._hits[key] = 0

    def captured(self, name: str | None = None) -> list[BreakpointContext]:
        with self._lock:
            if name is not None:
                return list(self._captured.get(name, []))
            return [ctx for items in self._captured.values() for ctx in items]

    def clear_captured(self, name: str | None = None) -> None:
        with self._lock:
            if name is None:
                self._captured.clear()
            else:
                self._captured.pop(name, None)

    def clear(self) -> None:
        """Remove every breakpoint, hit count and capture."""
        with self._lock:
            self._breakpoints.clear()
            self._hits.clear()
            self._captured.clear()
            self.errors.clear()

    def _get(self, name: str) -> Breakpoint:
        bp = self._breakpoints.get(name)
        if bp is None:
            raise KeyError(f"no breakpoint named {name!r}")
        return bp

    def _capture(self, ctx: BreakpointContext) -> None:
        with self._lock:
            self._captured.setdefault(ctx.breakpoint.name, []).append(ctx)

    # ---------------------------------------------------------- evaluation
    def evaluate(self, span: SpanInfo, trace: TraceInfo | None = None, trigger: Trigger = "exit") -> list[Hit]:
        """Fire every enabled breakpoint whose trigger and matcher fit this span; returns what fired."""
        trace = trace or TraceInfo(trace_id=span.trace_id)
        fired: list[Hit] = []
        for bp in self.get_enabled():
            if trigger not in bp.triggers or not bp.matcher(span):
                continue
            with self._lock:
                count = self._hits.get(bp.name, 0) + 1
                self._hits[bp.name] = count
            if not bp.hit_condition(count):
                continue
            ctx = BreakpointContext(span=span, trace=trace, breakpoint=bp, hit_count=count, timestamp=now(),
                                    trigger=trigger)
            for action in bp.actions:
                self._run(action, ctx)
            fired.append(Hit(bp.name, trigger, count, span.name))
        return fired

    def _run(self, action: Action, ctx: BreakpointContext) -> None:
        if action.inline:
            self._call(action, ctx)
            return
        self._ensure_worker()
        with self._lock:
            self._pending += 1
        try:
            self._queue.put_nowait((action, ctx))
        except queue.Full:
            with self._lock:
                self._pending -= 1
                self.dropped += 1
                if self.dropped == 1:
                    log.warning("breakpoint handler queue is full; handler runs are being dropped")

    def _call(self, action: Action, ctx: BreakpointContext, loop: asyncio.AbstractEventLoop | None = None) -> None:
        try:
            result = action.run(ctx)
            if result is not None:
                (loop or asyncio.new_event_loop()).run_until_complete(_awaitable(result))
        except Exception:
            detail = traceback.format_exc()
            with self._lock:
                self.errors.append((ctx.breakpoint.name, detail))
            log.warning("breakpoint %r handler failed:\n%s", ctx.breakpoint.name, detail)

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="neon-breakpoints", daemon=True)
                self._worker.start()

    def _work(self) -> None:
        loop = asyncio.new_event_loop()
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._call(item[0], item[1], loop)
            with self._lock:
                self._pending -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until queued handlers have run (for tests and before exit)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)


async def _awaitable(result: Any) -> None:
    await result


class BreakpointProcessor(SpanProcessor):
    """Evaluates breakpoints live: `enter` when a span starts, `exit` (and `error`) when it ends."""

    def __init__(self, manager: BreakpointManager | None = None) -> None:
        self._manager = manager

    @property
    def manager(self) -> BreakpointManager:
        return self._manager or get_manager()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            if self.manager.get_enabled():
                self.manager.evaluate(SpanInfo.from_otel(span), None, "enter")
        except Exception:  # never let breakpoints break tracing
            log.exception("breakpoint evaluation failed")

    def on_end(self, span: ReadableSpan) -> None:
        try:
            if not self.manager.get_enabled():
                return
            info = SpanInfo.from_otel(span)
            self.manager.evaluate(info, None, "exit")
            if info.status == "error":
                self.manager.evaluate(info, None, "error")
        except Exception:
            log.exception("breakpoint evaluation failed")


class _Global:
    manager = BreakpointManager()


def get_manager() -> BreakpointManager:
    """The process's breakpoint manager, used by live evaluation unless you pass your own."""
    return _Global.manager


def reset_manager() -> BreakpointManager:
    """A fresh global manager (for tests)."""
    _Global.manager = BreakpointManager()
    return _Global.manager


def add_breakpoint(bp: Breakpoint) -> Breakpoint:
    return get_manager().register(bp)


def remove_breakpoint(name: str) -> bool:
    return get_manager().unregister(name)


def evaluate_stored_trace(trace_id: str, *, client: Any = None,
                          manager: BreakpointManager | None = None) -> list[Hit]:
    """Fetch a stored trace from the server (`neon.NeonClient`, found like the SDK finds it) and run the
    breakpoints over it."""
    from neon.client import NeonClient

    own = client is None
    chosen = client or NeonClient()
    try:
        stored = chosen.get_trace(trace_id)
    finally:
        if own:
            chosen.close()
    summary = stored["trace"]
    trace = TraceInfo(trace_id=summary["trace_id"], name=summary.get("name", ""))
    return evaluate_breakpoints(stored["spans"], trace=trace, manager=manager)


def evaluate_breakpoints(spans: Iterable[SpanInfo | dict[str, Any] | ReadableSpan], trace: TraceInfo | None = None,
                         manager: BreakpointManager | None = None) -> list[Hit]:
    """Run breakpoints over a finished span tree (e.g. a stored trace): each span, in start order, gets its
    `enter`, then `exit`, then `error` if it failed."""
    chosen = manager or get_manager()
    infos = [s if isinstance(s, SpanInfo) else SpanInfo.from_dict(s) if isinstance(s, dict) else SpanInfo.from_otel(s)
             for s in spans]
    if trace is None and infos:
        root = next((s for s in infos if not s.parent_span_id), infos[0])
        trace = TraceInfo(trace_id=root.trace_id, name=root.name)
    fired: list[Hit] = []
    for info in infos:
        fired += chosen.evaluate(info, trace, "enter")
        fired += chosen.evaluate(info, trace, "exit")
        if info.status == "error":
            fired += chosen.evaluate(info, trace, "error")
    return fired
