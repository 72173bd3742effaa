"""Streamed Messages API replies: `message_start` (model, input tokens), per content block a
`content_block_start` then `content_block_delta`s (`text_delta`, or `input_json_delta` pieces of a tool call's
input) and `content_block_stop`, `message_delta` (stop reason, output tokens), `message_stop`. `ping`s may come
anywhere; an `error` event reports a failure after the stream began."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from neon.llm.completion import Completion, TextDelta
from neon.llm.errors import LLMError
from neon.llm.streaming import SSEEvent, StreamParser, ToolCallFragments
from neon.llm.tools import ToolCall, to_json

# Error types worth another attempt when they arrive inside a stream (there is no status to go by).
RETRYABLE_ERROR_TYPES = frozenset({"overloaded_error", "api_error", "rate_limit_error", "timeout_error"})


class AnthropicStreamParser(StreamParser):
    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self._message: dict[str, Any] = {}
        self._usage: dict[str, Any] = {}
        self._text: list[str] = []
        self._calls: dict[int, ToolCallFragments] = {}

    def feed(self, event: SSEEvent) -> list[TextDelta]:
        try:
            data = json.loads(event.data)
        except ValueError as exc:
            raise LLMError(self.provider, f"stream event is not JSON: {event.data[:200]!r}") from exc
        if not isinstance(data, Mapping):
            raise LLMError(self.provider, f"stream event is not a JSON object: {event.data[:200]!r}")
        kind = data.get("type") or event.event
        if kind == "message_start":
            self._message = dict(data.get("message") or {})
            self._usage.update(self._message.get("usage") or {})
        elif kind == "content_block_start":
            return self._block_start(int(data.get("index", 0)), data.get("content_block") or {})
        elif kind == "content_block_delta":
            return self._block_delta(int(data.get("index", 0)), data.get("delta") or {})
        elif kind == "message_delta":
            self._message.update({k: v for k, v in (data.get("delta") or {}).items() if v is not None})
            # Counts here are cumulative: the last one wins.
            self._usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            error = data.get("error") or {}
            error_type = str(error.get("type") or "error")
            raise LLMError(self.provider, str(error.get("message") or error_type),
                           retryable=error_type in RETRYABLE_ERROR_TYPES, error_type=error_type)
        return []

    def _block_start(self, index: int, block: Mapping[str, Any]) -> list[TextDelta]:
        if block.get("type") == "tool_use":
            self.has_output = True
            self._calls[index] = ToolCallFragments(id=str(block.get("id") or f"toolu_{index}"),
                                                   name=str(block.get("name") or ""))
            if block.get("input"):  # normally `{}` here, the input following as JSON pieces
                self._calls[index].arguments.append(json.dumps(block["input"]))
        elif block.get("type") == "text" and block.get("text"):
            return self._add_text(str(block["text"]))
        return []

    def _block_delta(self, index: int, delta: Mapping[str, Any]) -> list[TextDelta]:
        if delta.get("type") == "text_delta":
            return self._add_text(str(delta.get("text") or ""))
        if delta.get("type") == "input_json_delta":
            self.has_output = True
            call = self._calls.setdefault(index, ToolCallFragments(id=f"toolu_{index}"))
            call.arguments.append(str(delta.get("partial_json") or ""))
        return []  # thinking and signature deltas are not part of the reply's text

    def _add_text(self, text: str) -> list[TextDelta]:
        if not text:
            return []
        self.has_output = True
        self._text.append(text)
        return [TextDelta(text)]

    def result(self) -> Completion:
        calls = tuple(tool_use_call(call.id, call.name, "".join(call.arguments))
                      for _, call in sorted(self._calls.items()))
        stop_reason = self._message.get("stop_reason")
        return Completion(text="".join(self._text), model=str(self._message.get("model") or self.model),
                          input_tokens=self._usage.get("input_tokens"), output_tokens=self._usage.get("output_tokens"),
                          finish_reason=str(stop_reason) if stop_reason else None,
                          raw={**self._message, "usage": dict(self._usage)}, tool_calls=calls)


def tool_use_call(id: Any, name: Any, tool_input: Any) -> ToolCall:
    """A ToolCall from a `tool_use` block. The API sends `input` as an object; anything else (text, or
    nothing) is read as JSON text so that it is reported, not raised."""
    if isinstance(tool_input, Mapping):
        return ToolCall(id=str(id), name=str(name), arguments=dict(tool_input), raw_arguments=to_json(tool_input))
    call = ToolCall.from_json(str(id), str(name), tool_input if isinstance(tool_input, str) else "")
    if call.arguments_error is None:  # the same JSON text, whichever way it arrived
        return ToolCall(id=call.id, name=call.name, arguments=call.arguments, raw_arguments=to_json(call.arguments))
    return call
