"""Anthropic's Messages API (`POST {base_url}/v1/messages`, `x-api-key`, `anthropic-version`).

System messages go to the top-level `system` field. Tool calls are `tool_use` content blocks of the assistant
message; their results are `tool_result` blocks of the next user message (consecutive results share one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neon.llm.anthropic_stream import AnthropicStreamParser, tool_use_call
from neon.llm.base import CallOptions, Completion, HTTPProvider, Request
from neon.llm.messages import text_of
from neon.llm.streaming import StreamParser
from neon.llm.tools import ToolChoice, ToolDefinition

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024  # the Messages API requires max_tokens; judges' replies are short
JSON_INSTRUCTION = "Reply with a single JSON object and nothing else."
TOOL_CHOICES: dict[str, dict[str, Any]] = {"auto": {"type": "auto"}, "required": {"type": "any"},
                                           "none": {"type": "none"}}


class AnthropicProvider(HTTPProvider):
    """System messages go to the top-level `system` field, as the Messages API wants."""

    name = "anthropic"

    def __init__(self, model: str, *, base_url: str = ANTHROPIC_BASE_URL, api_key: str | None = None,
                 version: str = ANTHROPIC_VERSION, **options: Any) -> None:
        options.setdefault("default_max_tokens", DEFAULT_MAX_TOKENS)
        super().__init__(model, base_url=base_url, api_key=api_key, **options)
        self.version = version

    def build_request(self, messages: list[dict[str, Any]], options: CallOptions) -> Request:
        system = [text_of(m["content"]) for m in messages if m["role"] == "system"]
        if options.json:  # the Messages API has no JSON mode: ask in the system prompt
            system.append(JSON_INSTRUCTION)
        body: dict[str, Any] = {"model": options.model, "max_tokens": options.max_tokens or DEFAULT_MAX_TOKENS,
                                "messages": to_anthropic_messages([m for m in messages if m["role"] != "system"])}
        if system:
            body["system"] = "\n\n".join(system)
        if options.temperature is not None:
            body["temperature"] = options.temperature
        if options.tools:
            body["tools"] = [to_anthropic_tool(tool) for tool in options.tools]
        if options.tool_choice is not None:
            body["tool_choice"] = to_anthropic_tool_choice(options.tool_choice)
        if options.stream:
            body["stream"] = True
        headers = {"anthropic-version": self.version}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return Request(f"{self.base_url}/v1/messages", headers, body)

    def parse_reply(self, data: Mapping[str, Any], model: str) -> Completion:
        blocks = [block for block in data["content"] if isinstance(block, Mapping)]
        text = "".join(str(block.get("text", "")) for block in blocks if block.get("type") == "text")
        calls = tuple(tool_use_call(block["id"], block["name"], block.get("input"))
                      for block in blocks if block.get("type") == "tool_use")
        usage = data.get("usage") or {}
        return Completion(text=text, model=str(data.get("model") or model), input_tokens=usage.get("input_tokens"),
                          output_tokens=usage.get("output_tokens"), finish_reason=data.get("stop_reason"), raw=data,
                          tool_calls=calls)

    def stream_parser(self, model: str) -> StreamParser:
        return AnthropicStreamParser(self.name, model)


def to_anthropic_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Neutral messages (no system ones) in the Messages API shape. Tool results become `tool_result` blocks
    of a user message, consecutive ones in the same message (the API wants all results of one assistant turn
    together, first in the next user message)."""
    out: list[dict[str, Any]] = []
    results: list[dict[str, Any]] | None = None  # the tool results message being filled
    for message in messages:
        if message["role"] == "tool":
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message["tool_call_id"],
                                     "content": message["content"]}
            if message.get("is_error"):
                block["is_error"] = True
            if results is None:
                results = []
                out.append({"role": "user", "content": results})
            results.append(block)
            continue
        results = None
        if message["role"] == "assistant" and message.get("tool_calls"):
            out.append({"role": "assistant", "content": _assistant_blocks(message)})
        else:
            out.append(message)
    return out


def _assistant_blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    blocks: list[dict[str, Any]] = []
    if isinstance(content, list):
        blocks.extend(content)
    elif content:  # the API refuses empty text blocks
        blocks.append({"type": "text", "text": str(content)})
    blocks.extend({"type": "tool_use", "id": call["id"], "name": call["name"], "input": dict(call["arguments"])}
                  for call in message["tool_calls"])
    return blocks


def to_anthropic_tool(tool: ToolDefinition) -> dict[str, Any]:
    definition: dict[str, Any] = {"name": tool.name, "input_schema": dict(tool.parameters)}
    if tool.description:
        definition["description"] = tool.description
    return definition


def to_anthropic_tool_choice(choice: ToolChoice) -> dict[str, Any]:
    return dict(TOOL_CHOICES[choice]) if choice in TOOL_CHOICES else {"type": "tool", "name": choice}
