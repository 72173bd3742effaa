"""What a breakpoint does when it fires: log, notify, capture, or a custom handler; and when it fires."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from neon.breakpoints.spans import SpanInfo, TraceInfo

if TYPE_CHECKING:
    from neon.breakpoints.core import Breakpoint

Trigger = Literal["enter", "exit", "error"]
log = logging.getLogger("neon.breakpoints")
TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")


@dataclass(frozen=True)
class BreakpointContext:
    """What an action sees."""

    span: SpanInfo
    trace: TraceInfo
    breakpoint: Breakpoint
    hit_count: int
    timestamp: float
    trigger: Trigger


def render(template: str, ctx: BreakpointContext) -> str:
    """Fill `{{span.name}}`, `{{span.attributes.key}}`, `{{trace.trace_id}}`, `{{hit_count}}`, `{{trigger}}`,
    `{{breakpoint.name}}`; unknown fields render empty."""
    def value(match: re.Match[str]) -> str:
        path = match[1]
        head, _, rest = path.partition(".")
        found: Any
        if head == "span":
            found = ctx.span.field(rest)
        elif head == "trace":
            found = ctx.trace.field(rest)
        elif head == "breakpoint":
            found = getattr(ctx.breakpoint, rest, None)
        elif path == "hit_count":
            found = ctx.hit_count
        elif path == "trigger":
            found = ctx.trigger
        elif path == "timestamp":
            found = ctx.timestamp
        else:
            found = None
        return "" if found is None else str(found)
    return TEMPLATE.sub(value, template)


class Action(Protocol):
    inline: bool  # run in the traced thread (cheap) rather than on the handler thread

    def run(self, ctx: BreakpointContext) -> Awaitable[None] | None: ...


class LogAction:
    inline = True

    def __init__(self, template: str, level: int | str = logging.INFO, logger: logging.Logger | None = None) -> None:
        self.template = template
        self.level = logging.getLevelName(level.upper()) if isinstance(level, str) else level
        self.logger = logger or log

    def run(self, ctx: BreakpointContext) -> None:
        self.logger.log(self.level, render(self.template, ctx))


class CaptureStore(Protocol):
    def add(self, ctx: BreakpointContext) -> None: ...


class CaptureAction:
    """Keep the context for later: in the manager (`manager.captured(name)`), or in your store if given."""

    inline = True

    def __init__(self, store: CaptureStore | None = None) -> None:
        self.store = store

    def run(self, ctx: BreakpointContext) -> None:
        if self.store is not None:
            self.store.add(ctx)
        else:
            ctx.breakpoint.manager_capture(ctx)


class HandlerAction:
    """A sync or async function of the context, run on the breakpoint handler thread so that a slow handler
    never slows the traced program."""

    inline = False

    def __init__(self, handler: Callable[[BreakpointContext], Any]) -> None:
        self.handler = handler

    def run(self, ctx: BreakpointContext) -> Awaitable[None] | None:
        result = self.handler(ctx)
        return result if hasattr(result, "__await__") else None


def log_action(template: str = "breakpoint {{breakpoint.name}} hit #{{hit_count}} on {{span.name}} ({{trigger}})",
               level: int | str = logging.INFO, logger: logging.Logger | None = None) -> LogAction:
    return LogAction(template, level, logger)


def notify(handler: Callable[[BreakpointContext], Any]) -> HandlerAction:
    return HandlerAction(handler)


def capture(store: CaptureStore | None = None) -> CaptureAction:
    return CaptureAction(store)


def custom(handler: Callable[[BreakpointContext], Any]) -> HandlerAction:
    return HandlerAction(handler)


# ---------------------------------------------------------------- hit conditions: given the hit count (1-based)
HitCondition = Callable[[int], bool]


def always() -> HitCondition:
    return lambda n: True


def nth(n: int) -> HitCondition:
    return lambda hit: hit == n


def every(n: int) -> HitCondition:
    return lambda hit: hit % n == 0


def after(n: int) -> HitCondition:
    return lambda hit: hit > n


def until(n: int) -> HitCondition:
    return lambda hit: hit <= n


def now() -> float:
    return time.time()
