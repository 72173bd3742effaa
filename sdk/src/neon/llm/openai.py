"""OpenAI-compatible chat completions (`POST {base_url}/chat/completions`): OpenAI itself, and the many servers
that speak its protocol — vLLM, Ollama, LiteLLM proxies, llama.cpp's server.

Tool calls travel as `tool_calls: [{"id", "type": "function", "function": {"name", "arguments": "<JSON text>"}}]`
on the assistant message and their results as `{"role": "tool", "tool_call_id", "content"}` messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neon.llm.base import CallOptions, Completion, HTTPProvider, Request
from neon.llm.openai_stream import OpenAIStreamParser
from neon.llm.streaming import StreamParser
from neon.llm.tools import TOOL_CHOICE_MODES, ToolCall, ToolChoice, ToolDefinition, arguments_text, to_json

OPENAI_BASE_URL = "https://api.openai.com/v1"


class OpenAIProvider(HTTPProvider):
    """`base_url` includes the API version path (`.../v1`), as the OpenAI clients expect."""

    name = "openai"

    def __init__(self, model: str, *, base_url: str = OPENAI_BASE_URL, api_key: str | None = None,
                 **options: Any) -> None:
        super().__init__(model, base_url=base_url, api_key=api_key, **options)

    def build_request(self, messages: list[dict[str, Any]], options: CallOptions) -> Request:
        body: dict[str, Any] = {"model": options.model, "messages": [to_openai_message(m) for m in messages]}
        if options.temperature is not None:
            body["temperature"] = options.temperature
        if options.max_tokens is not None:
            body["max_tokens"] = options.max_tokens
        if options.json:
            body["response_format"] = {"type": "json_object"}
        if options.tools:
            body["tools"] = [to_openai_tool(tool) for tool in options.tools]
        if options.tool_choice is not None:
            body["tool_choice"] = to_openai_tool_choice(options.tool_choice)
        if options.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}  # usage arrives in a last chunk
        headers = {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return Request(f"{self.base_url}/chat/completions", headers, body)

    def parse_reply(self, data: Mapping[str, Any], model: str) -> Completion:
        choice = data["choices"][0]
        message = choice["message"]
        content = message.get("content")
        if isinstance(content, list):  # some compatible servers send content parts
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
        calls = tuple(_tool_call(call, index) for index, call in enumerate(message.get("tool_calls") or ()))
        usage = data.get("usage") or {}
        return Completion(text=content or "", model=str(data.get("model") or model),
                          input_tokens=usage.get("prompt_tokens"), output_tokens=usage.get("completion_tokens"),
                          finish_reason=choice.get("finish_reason"), raw=data, tool_calls=calls)

    def stream_parser(self, model: str) -> StreamParser:
        return OpenAIStreamParser(self.name, model)


def to_openai_message(message: dict[str, Any]) -> dict[str, Any]:
    """A neutral message in the chat completions shape (messages without tool calls pass unchanged)."""
    if message["role"] == "tool":
        return {"role": "tool", "tool_call_id": message["tool_call_id"], "content": message["content"]}
    if message["role"] == "assistant" and message.get("tool_calls"):
        return {"role": "assistant", "content": message.get("content") or None,
                "tool_calls": [{"id": call["id"], "type": "function",
                                "function": {"name": call["name"], "arguments": arguments_text(call)}}
                               for call in message["tool_calls"]]}
    return message


def to_openai_tool(tool: ToolDefinition) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "parameters": dict(tool.parameters)}
    if tool.description:
        function["description"] = tool.description
    return {"type": "function", "function": function}


def to_openai_tool_choice(choice: ToolChoice) -> Any:
    if choice in TOOL_CHOICE_MODES:
        return choice
    return {"type": "function", "function": {"name": choice}}


def _tool_call(call: Mapping[str, Any], index: int) -> ToolCall:
    function = call["function"]
    arguments = function.get("arguments")
    # The API sends JSON text; a few compatible servers send the object itself.
    raw = arguments if isinstance(arguments, str) else to_json(arguments) if arguments is not None else ""
    return ToolCall.from_json(str(call.get("id") or f"call_{index}"), str(function["name"]), raw)
