"""The provider-neutral conversation that every adapter translates into its API's shape.

    {"role": "system", "content": "You are terse."}
    {"role": "user", "content": "Weather in Paris?"}
    {"role": "assistant", "content": "",
     "tool_calls": [{"id": "c1", "name": "weather", "arguments": {"city": "Paris"}}]}
    {"role": "tool", "tool_call_id": "c1", "name": "weather", "content": "18°C, clear"}
    {"role": "assistant", "content": "18°C and clear."}

`Completion.message` is the assistant turn in this form and `tool_message(call, result)` makes a tool turn.
Assistant tool calls may also be given in OpenAI's shape (`{"id", "type": "function", "function": {...}}`);
they are brought to the neutral form. Messages without tool calls pass through unchanged, so any extra keys
an API accepts (content parts, a user's `name`) still reach it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from neon.llm.tools import normalise_tool_call, to_json

Message = Mapping[str, Any]
"""A chat message: `{"role": "system" | "user" | "assistant" | "tool", "content": ...}` (see the module doc)."""

Messages = str | Sequence[Message]
"""A conversation, or a plain string (one user message)."""


def normalise_messages(messages: Messages) -> list[dict[str, Any]]:
    """A list of message dicts in the neutral form; a plain string is one user message. Raises ValueError
    naming the message that lacks what its role needs."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = [_normalise(message) for message in messages]
    if not out:
        raise ValueError("no messages to send")
    return out


def _normalise(message: Message) -> dict[str, Any]:
    role = message.get("role")
    if role == "tool":
        if "tool_call_id" not in message or "content" not in message:
            raise ValueError(f"a tool message needs 'tool_call_id' and 'content': {dict(message)!r}")
        content = message["content"]
        tool: dict[str, Any] = {"role": "tool", "tool_call_id": str(message["tool_call_id"]),
                                "content": content if isinstance(content, str) else to_json(content)}
        if message.get("name"):
            tool["name"] = str(message["name"])
        if message.get("is_error"):
            tool["is_error"] = True
        return tool
    if role == "assistant" and message.get("tool_calls"):
        calls = message["tool_calls"]
        if not isinstance(calls, Sequence) or isinstance(calls, str):
            raise ValueError(f"'tool_calls' must be a list: {dict(message)!r}")
        return {"role": "assistant", "content": message.get("content") or "",
                "tool_calls": [normalise_tool_call(call) for call in calls]}
    if role is None or "content" not in message:
        raise ValueError(f"a message needs 'role' and 'content': {dict(message)!r}")
    out = dict(message)
    if role == "assistant" and "tool_calls" in out:  # an empty list: no calls
        del out["tool_calls"]
    return out


def system_text(messages: Sequence[Message]) -> str:
    """The system messages' text, joined (for APIs that take the system prompt apart)."""
    return "\n\n".join(text_of(m.get("content")) for m in messages if m.get("role") == "system")


def text_of(content: Any) -> str:
    """The text in a message's content: a string, or content parts' `text`."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return "" if content is None else str(content)
