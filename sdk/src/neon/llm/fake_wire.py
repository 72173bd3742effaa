"""What `FakeLLMServer` puts on the wire: replies, errors and server-sent event streams in OpenAI's and
Anthropic's shapes, from a `FakeReply`. Standard library only, like the server."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from neon.llm.fake import FakeReply, FakeRequest, FakeToolCall

Api = Literal["openai", "anthropic"]
ARGUMENT_PIECE = 12  # characters of a tool call's arguments per streamed fragment


def reply_body(api: Api, request: FakeRequest, reply: FakeReply) -> dict[str, Any]:
    """The whole reply, as the API answers without `stream`."""
    model = reply.model or str(request.body.get("model") or "fake-model")
    input_tokens, output_tokens = _usage(request, reply)
    calls = [_call(api, request, reply, index) for index in range(len(reply.tool_calls))]
    if api == "anthropic":
        content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text or not calls else []
        content += [{"type": "tool_use", "id": call_id, "name": call.name, "input": _input_object(raw)}
                    for call_id, call, raw in calls]
        return {"id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": content,
                "stop_reason": finish_reason(api, reply), "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}}
    message: dict[str, Any] = {"role": "assistant", "content": reply.text if reply.text or not calls else None}
    if calls:
        message["tool_calls"] = [{"id": call_id, "type": "function", "function": {"name": call.name, "arguments": raw}}
                                 for call_id, call, raw in calls]
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(api, reply)}],
            "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                      "total_tokens": input_tokens + output_tokens}}


def stream_events(api: Api, request: FakeRequest, reply: FakeReply) -> Iterator[tuple[bytes, bool]]:
    """The reply as server-sent events: `(event bytes, carries content)`; the text comes word by word and each
    tool call's arguments in pieces, so a client sees several deltas."""
    model = reply.model or str(request.body.get("model") or "fake-model")
    input_tokens, output_tokens = _usage(request, reply)
    calls = [_call(api, request, reply, index) for index in range(len(reply.tool_calls))]
    if api == "anthropic":
        yield from _anthropic_events(model, reply, calls, input_tokens, output_tokens)
        return
    created = int(time.time())

    def chunk(delta: Mapping[str, Any] | None, finish: str | None = None, usage: Any = None) -> bytes:
        body: dict[str, Any] = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created,
                                "model": model,
                                "choices": [] if delta is None else [{"index": 0, "delta": delta,
                                                                      "finish_reason": finish}]}
        if usage is not None:
            body["usage"] = usage
        return f"data: {json.dumps(body)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""}), False
    for piece in text_pieces(reply.text):
        yield chunk({"content": piece}), True
    for index, (call_id, call, raw) in enumerate(calls):
        yield chunk({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                     "function": {"name": call.name, "arguments": ""}}]}), True
        for piece in _argument_pieces(raw):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}), True
    yield chunk({}, finish_reason(api, reply)), False
    if (request.body.get("stream_options") or {}).get("include_usage"):
        yield chunk(None, usage={"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                                 "total_tokens": input_tokens + output_tokens}), False
    yield b"data: [DONE]\n\n", False


def _anthropic_events(model: str, reply: FakeReply, calls: list[tuple[str, FakeToolCall, str]],
                      input_tokens: int, output_tokens: int) -> Iterator[tuple[bytes, bool]]:
    def event(kind: str, **fields: Any) -> bytes:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()

    yield event("message_start", message={
        "id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": input_tokens, "output_tokens": 1}}), False
    yield event("ping"), False
    index = 0
    if reply.text or not calls:
        yield event("content_block_start", index=0, content_block={"type": "text", "text": ""}), False
        for piece in text_pieces(reply.text):
            yield event("content_block_delta", index=0, delta={"type": "text_delta", "text": piece}), True
        yield event("content_block_stop", index=0), False
        index = 1
    for offset, (call_id, call, raw) in enumerate(calls):
        block = index + offset
        yield event("content_block_start", index=block,
                    content_block={"type": "tool_use", "id": call_id, "name": call.name, "input": {}}), True
        for piece in _argument_pieces(raw):
            yield event("content_block_delta", index=block,
                        delta={"type": "input_json_delta", "partial_json": piece}), True
        yield event("content_block_stop", index=block), False
    yield event("message_delta", delta={"stop_reason": finish_reason("anthropic", reply), "stop_sequence": None},
                usage={"output_tokens": output_tokens}), False
    yield event("message_stop"), False


def error_body(api: Api, reply: FakeReply) -> dict[str, Any]:
    if api == "anthropic":
        kind = {429: "rate_limit_error", 400: "invalid_request_error", 529: "overloaded_error"}.get(
            reply.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": reply.error_message}}
    kind = {429: "rate_limit_exceeded", 400: "invalid_request_error"}.get(reply.status, "server_error")
    return {"error": {"message": reply.error_message, "type": kind, "code": None}}


def finish_reason(api: Api, reply: FakeReply) -> str:
    if reply.finish_reason:
        return reply.finish_reason
    if reply.tool_calls:
        return "tool_use" if api == "anthropic" else "tool_calls"
    return "end_turn" if api == "anthropic" else "stop"


def text_pieces(text: str) -> list[str]:
    """The text word by word, each word with the spaces after it (joined, they give the text back)."""
    return re.findall(r"\S+\s*|\s+", text)


def conversation_key(body: Mapping[str, Any]) -> str:
    """A digest of what decides a model's answer: system prompt, messages and tools — not the model, the
    sampling settings or whether the reply is streamed."""
    content = {"system": body.get("system"), "messages": body.get("messages"), "tools": body.get("tools")}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _argument_pieces(raw: str) -> list[str]:
    return [raw[i:i + ARGUMENT_PIECE] for i in range(0, len(raw), ARGUMENT_PIECE)]


def _call(api: Api, request: FakeRequest, reply: FakeReply, index: int) -> tuple[str, FakeToolCall, str]:
    """A scripted call's id (derived from the conversation, so the same request gets the same ids), the call,
    and its arguments as JSON text."""
    call = reply.tool_calls[index]
    raw = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments, ensure_ascii=False)
    if call.id:
        return call.id, call, raw
    digest = hashlib.sha256(f"{request.conversation_key}/{index}".encode()).hexdigest()[:16]
    return ("toolu_" if api == "anthropic" else "call_") + digest, call, raw


def _input_object(raw: str) -> Any:
    """A tool_use block's `input`: the object, or (to test clients' defences) the text when it is no object."""
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if isinstance(value, dict) else raw


def _usage(request: FakeRequest, reply: FakeReply) -> tuple[int, int]:
    prompt = " ".join(str(m.get("content")) for m in request.messages) + " " + request.system
    input_tokens = reply.input_tokens if reply.input_tokens is not None else _words(prompt)
    arguments = " ".join(str(call.arguments) for call in reply.tool_calls)
    output_tokens = reply.output_tokens if reply.output_tokens is not None else _words(f"{reply.text} {arguments}")
    return input_tokens, output_tokens


def _words(text: str) -> int:
    return len(text.split())
