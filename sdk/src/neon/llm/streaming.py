"""Reading streamed replies: server-sent events, and the parser each adapter writes to turn its API's events
into text deltas and, at the end, the same `Completion` a non-streamed call returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from neon.llm.completion import Completion, TextDelta
from neon.llm.tools import ToolCall


@dataclass(frozen=True)
class SSEEvent:
    """One server-sent event: its `event:` name ("message" when none) and its `data:` lines joined."""

    event: str
    data: str


async def iter_sse(lines: AsyncIterator[str]) -> AsyncIterator[SSEEvent]:
    """Server-sent events from a body's lines (without their line endings), per the SSE format: fields until
    a blank line; `:` starts a comment; one optional space after the field's colon."""
    event = ""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield SSEEvent(event or "message", "\n".join(data))
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:  # a last event without its blank line
        yield SSEEvent(event or "message", "\n".join(data))


@dataclass
class ToolCallFragments:
    """A tool call arriving in pieces: its id and name first, its arguments' JSON text in fragments."""

    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)

    def call(self) -> ToolCall:
        return ToolCall.from_json(self.id, self.name, "".join(self.arguments))


class StreamParser(ABC):
    """One streamed reply being read. `feed` each event; `has_output` turns true at the first text or tool-call
    fragment (time to first token), `done` at the API's end marker; then, if `finished()`, `result()` is the
Completion.
    `feed` raises `LLMError` for an error the provider reports inside the stream."""

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self.has_output = False
        self.done = False

    @abstractmethod
    def feed(self, event: SSEEvent) -> list[TextDelta]:
        """The text deltas this event carries (often none)."""

    def finished(self) -> bool:
        """Whether the reply is whole when the body ends (by default: the end marker arrived)."""
        return self.done

    @abstractmethod
    def result(self) -> Completion:
        """The whole reply, once `done`."""
