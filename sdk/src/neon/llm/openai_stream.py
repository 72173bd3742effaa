"""Streamed chat completions: `data:` chunks carrying `choices[0].delta` (text in `content`, tool calls as
fragments keyed by `index`: id and name first, then pieces of the arguments' JSON text), `finish_reason` on
the last choice chunk, usage in a final chunk with no choices (`stream_options.include_usage`), then `[DONE]`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from neon.llm.completion import Completion, TextDelta
from neon.llm.errors import LLMError
from neon.llm.streaming import SSEEvent, StreamParser, ToolCallFragments


class OpenAIStreamParser(StreamParser):
    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self._text: list[str] = []
        self._calls: dict[int, ToolCallFragments] = {}
        self._finish_reason: str | None = None
        self._usage: Mapping[str, Any] = {}
        self._raw: dict[str, Any] = {}

    def feed(self, event: SSEEvent) -> list[TextDelta]:
        if event.data.strip() == "[DONE]":
            self.done = True
            return []
        try:
            chunk = json.loads(event.data)
        except ValueError as exc:
            raise LLMError(self.provider, f"stream chunk is not JSON: {event.data[:200]!r}") from exc
        if not isinstance(chunk, Mapping):
            raise LLMError(self.provider, f"stream chunk is not a JSON object: {event.data[:200]!r}")
        error = chunk.get("error")
        if error is not None:  # an error after the stream began (the status was already 200)
            message = error.get("message") if isinstance(error, Mapping) else error
            kind = (error.get("type") or error.get("code")) if isinstance(error, Mapping) else None
            raise LLMError(self.provider, str(message or error), retryable=True,
                           error_type=str(kind) if kind else None)
        self._raw.update({k: v for k, v in chunk.items() if k in ("id", "object", "created", "model")})
        if chunk.get("usage"):
            self._usage = chunk["usage"]
            self._raw["usage"] = chunk["usage"]
        deltas: list[TextDelta] = []
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:  # only the first choice is read, as for a reply in one piece
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.has_output = True
                self._text.append(str(delta["content"]))
                deltas.append(TextDelta(str(delta["content"])))
            for fragment in delta.get("tool_calls") or ():
                self._add_fragment(fragment)
            if choice.get("finish_reason"):
                self._finish_reason = str(choice["finish_reason"])
        return deltas

    def _add_fragment(self, fragment: Mapping[str, Any]) -> None:
        self.has_output = True
        index = int(fragment.get("index", len(self._calls)))
        call = self._calls.setdefault(index, ToolCallFragments(id=f"call_{index}"))
        if fragment.get("id"):
            call.id = str(fragment["id"])
        function = fragment.get("function") or {}
        if function.get("name") and not call.name:  # the name comes whole, in the first fragment
            call.name = str(function["name"])
        arguments = function.get("arguments")
        if arguments:
            call.arguments.append(arguments if isinstance(arguments, str) else json.dumps(arguments))

    def finished(self) -> bool:
        # Some compatible servers end the body without `[DONE]`: a finish reason is enough then.
        return self.done or self._finish_reason is not None

    def result(self) -> Completion:
        return Completion(text="".join(self._text), model=str(self._raw.get("model") or self.model),
                          input_tokens=self._usage.get("prompt_tokens"),
                          output_tokens=self._usage.get("completion_tokens"), finish_reason=self._finish_reason,
                          raw={**self._raw, "finish_reason": self._finish_reason},
                          tool_calls=tuple(self._calls[i].call() for i in sorted(self._calls)))
