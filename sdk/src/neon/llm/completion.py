"""What a call returns: a `Completion`, and while streaming, `TextDelta`s before it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from neon.llm.tools import ToolCall


@dataclass(frozen=True)
class Completion:
    """One model reply: its text, the tool calls it asks for (empty when none), the model that answered,
    token usage, why it stopped (the provider's word: `stop`/`tool_calls`, `end_turn`/`tool_use`…) and the
    raw JSON. `raw` is the provider's reply (for a stream, the final state it reported) and takes no part in
    comparisons, so a streamed reply equals the same reply not streamed."""

    text: str
    model: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)
    tool_calls: tuple[ToolCall, ...] = ()

    @property
    def message(self) -> dict[str, Any]:
        """The assistant turn to append to the conversation, in the provider-neutral form (`neon.llm.messages`)."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            message["tool_calls"] = [call.to_message() for call in self.tool_calls]
        return message


@dataclass(frozen=True)
class TextDelta:
    """A piece of the reply's text, as it arrives."""

    text: str


StreamEvent = TextDelta | Completion
"""What `stream()` yields: text deltas, then exactly one `Completion` (the same as `complete()` returns)."""
