"""Tool calling in one provider-neutral shape: the tools offered, the calls a model makes, and their results.

Adapters translate these to and from each API (OpenAI `tools`/`tool_calls`, Anthropic `tool_use`/`tool_result`
blocks), so agent code never sees a provider's shape:

    reply = await llm.complete(messages, tools=[ToolDefinition("weather", "Weather in a city", schema)])
    messages.append(reply.message)                     # the assistant turn, tool calls included
    for call in reply.tool_calls:
        result = run(call.name, call.arguments) if call.arguments_error is None else call.arguments_error
        messages.append(tool_message(call, result, is_error=call.arguments_error is not None))
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

ToolChoice = Literal["auto", "required", "none"] | str
"""`"auto"` (the model decides), `"required"` (at least one call), `"none"` (no call), or a tool's name (call it)."""

TOOL_CHOICE_MODES = ("auto", "required", "none")
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what both APIs accept as a tool's name


def _empty_object_schema() -> dict[str, Any]:
    return {"type": "object", "properties": {}}


@dataclass(frozen=True)
class ToolDefinition:
    """A tool offered to the model: its name, what it is for, and its arguments as a JSON Schema object."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=_empty_object_schema)

    def __post_init__(self) -> None:
        if not TOOL_NAME.match(self.name):
            raise ValueError(f"tool name {self.name!r} must be 1-64 letters, digits, '_' or '-'")
        if self.parameters.get("type") != "object":
            raise ValueError(f"tool {self.name!r}: parameters must be a JSON Schema with \"type\": \"object\"")


@dataclass(frozen=True)
class ToolCall:
    """One call the model asked for. `arguments` is the parsed JSON object; when the model wrote something that
    is not a JSON object, `arguments` is `{}`, `arguments_error` says what was wrong (tell the model, as the
    tool's result) and `raw_arguments` keeps what it wrote."""

    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str
    arguments_error: str | None = None

    @classmethod
    def from_json(cls, id: str, name: str, raw_arguments: str) -> ToolCall:
        """A call whose arguments arrive as JSON text (OpenAI, and every streamed reply)."""
        arguments, error = parse_arguments(raw_arguments)
        return cls(id=id, name=name, arguments=arguments, raw_arguments=raw_arguments, arguments_error=error)

    def to_message(self) -> dict[str, Any]:
        """The call as it appears in an assistant message (the provider-neutral form)."""
        call: dict[str, Any] = {"id": self.id, "name": self.name, "arguments": dict(self.arguments)}
        if self.arguments_error is not None:
            call["raw_arguments"] = self.raw_arguments  # so the model sees what it wrote, not `{}`
        return call


def parse_arguments(raw: str) -> tuple[dict[str, Any], str | None]:
    """`(arguments, None)` for a JSON object; `({}, why)` for anything else. Empty text means no arguments."""
    if not raw.strip():
        return {}, None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return {}, f"arguments are not valid JSON: {exc}"
    if not isinstance(value, dict):
        return {}, f"arguments must be a JSON object, not {type(value).__name__}"
    return value, None


def tool_message(call: ToolCall | str, content: Any, *, is_error: bool = False) -> dict[str, Any]:
    """The message carrying a tool's result back to the model. `content` that is not text is sent as JSON;
    `is_error` marks a failed call (Anthropic shows the model the flag; OpenAI sees the content only)."""
    message: dict[str, Any] = {"role": "tool", "content": content if isinstance(content, str) else to_json(content)}
    if isinstance(call, ToolCall):
        message["tool_call_id"] = call.id
        message["name"] = call.name
    else:
        message["tool_call_id"] = call
    if is_error:
        message["is_error"] = True
    return message


def to_json(value: Any) -> str:
    """JSON text for arguments and results (non-JSON values such as dates become strings)."""
    return json.dumps(value, ensure_ascii=False, default=str)


def normalise_tool_call(value: Mapping[str, Any] | ToolCall) -> dict[str, Any]:
    """A tool call in an assistant message, in the neutral form `{"id", "name", "arguments": {...}}` (plus
    `raw_arguments` when they were not a JSON object). Accepts the neutral form with arguments as an object or
    JSON text, a `ToolCall`, and OpenAI's `{"id", "type": "function", "function": {"name", "arguments"}}`."""
    if isinstance(value, ToolCall):
        return value.to_message()
    function = value.get("function")
    source = function if isinstance(function, Mapping) else value
    if "id" not in value or "name" not in source:
        raise ValueError(f"a tool call needs 'id' and 'name': {dict(value)!r}")
    arguments = source.get("arguments", {})
    if "raw_arguments" in value and not arguments:
        arguments = value["raw_arguments"]
    if isinstance(arguments, str):
        return ToolCall.from_json(str(value["id"]), str(source["name"]), arguments).to_message()
    if not isinstance(arguments, Mapping):
        raise ValueError(f"tool call {value['id']!r}: arguments must be an object or JSON text")
    return {"id": str(value["id"]), "name": str(source["name"]), "arguments": dict(arguments)}


def arguments_text(call: Mapping[str, Any]) -> str:
    """The arguments of a neutral tool call as JSON text: what the model wrote when it was not valid JSON."""
    raw = call.get("raw_arguments")
    return raw if isinstance(raw, str) else to_json(call.get("arguments") or {})


def check_tools(tools: Sequence[ToolDefinition] | None, tool_choice: ToolChoice | None) -> None:
    """Raise ValueError for a choice that cannot be honoured: a choice without tools, an unknown tool's name,
    or two tools with one name."""
    names = [tool.name for tool in tools or ()]
    if len(set(names)) != len(names):
        raise ValueError(f"tool names must be unique: {names}")
    if tool_choice is None:
        return
    if not names:
        raise ValueError(f"tool_choice={tool_choice!r} needs tools")
    if tool_choice not in TOOL_CHOICE_MODES and tool_choice not in names:
        raise ValueError(f"tool_choice {tool_choice!r} is neither auto/required/none nor one of the tools {names}")
