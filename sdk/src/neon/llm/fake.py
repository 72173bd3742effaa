"""A fake LLM server for tests: real HTTP on 127.0.0.1, speaking OpenAI chat completions and Anthropic messages.

    from neon.llm.fake import FakeLLMServer, FakeReply

    with FakeLLMServer(replies=['{"score": 8, "reasoning": "good"}']) as server:
        provider = server.provider("openai", model="judge")         # or "anthropic"
        await provider.complete("hi")
        assert server.requests[0].body["model"] == "judge"

Replies are taken in order from the script (`replies=` or `server.queue(...)`); when the script is empty,
`reply=` (a function of the request) answers, and without one the server echoes the last user message.
A reply is a string, or a `FakeReply` to set status, `Retry-After`, a delay, token usage or a finish reason.
Only the standard library is used, so users' tests can rely on it wherever the SDK installs.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

from neon.llm.anthropic import AnthropicProvider
from neon.llm.base import HTTPProvider
from neon.llm.openai import OpenAIProvider

Api = Literal["openai", "anthropic"]


@dataclass(frozen=True)
class FakeReply:
    """One scripted answer. A status of 400 or more sends an error in the API's error shape, with
    `retry_after` as the `Retry-After` header; `delay` (seconds) is waited before answering (for timeouts)."""

    text: str = ""
    status: int = 200
    retry_after: str | float | None = None
    delay: float = 0.0
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    error_message: str = "fake error"
    model: str | None = None


@dataclass(frozen=True)
class FakeRequest:
    """A request the server received: which API shape, the path, headers (lower-cased names) and JSON body."""

    api: Api
    path: str
    headers: Mapping[str, str]
    body: Mapping[str, Any] = field(default_factory=dict)

    @property
    def messages(self) -> list[Mapping[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def last_user_message(self) -> str:
        for message in reversed(self.messages):
            if message.get("role") == "user":
                content = message.get("content")
                return content if isinstance(content, str) else json.dumps(content)
        return ""

    @property
    def system(self) -> str:
        """The system prompt, wherever the API puts it."""
        if self.api == "anthropic":
            return str(self.body.get("system") or "")
        return "\n\n".join(str(m.get("content")) for m in self.messages if m.get("role") == "system")


ReplyFn = Callable[[FakeRequest], "str | FakeReply"]


def echo(request: FakeRequest) -> str:
    """The default reply: the last user message."""
    return request.last_user_message


class FakeLLMServer:
    """The server; use it as a context manager (or `start()` / `stop()`). Thread-safe."""

    def __init__(self, replies: Iterable[str | FakeReply] = (), *, reply: ReplyFn | None = None) -> None:
        self._script: deque[str | FakeReply] = deque(replies)
        self._reply_fn = reply or echo
        self._lock = threading.Lock()
        self.requests: list[FakeRequest] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> FakeLLMServer:
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True  # a handler sleeping on a `delay` must not hold up stop()
        # A short poll interval lets stop() return quickly (shutdown waits for the next poll).
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="neon-fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------ addresses
    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the fake LLM server is not running: use it as a context manager or start() it")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    def provider(self, api: Api = "openai", *, model: str = "fake-model", **options: Any) -> HTTPProvider:
        """A provider pointed at this server (`options`: timeout, max_retries, retry…)."""
        if api == "anthropic":
            return AnthropicProvider(model, base_url=self.anthropic_base_url, api_key="fake-key", **options)
        return OpenAIProvider(model, base_url=self.openai_base_url, api_key="fake-key", **options)

    # ------------------------------------------------------------ scripting
    def queue(self, *replies: str | FakeReply) -> FakeLLMServer:
        """Add replies to the end of the script."""
        with self._lock:
            self._script.extend(replies)
        return self

    def fail(self, status: int = 500, *, times: int = 1, retry_after: str | float | None = None,
             message: str = "fake error") -> FakeLLMServer:
        """Script `times` failures with `status` (before any reply queued after this call)."""
        return self.queue(*[FakeReply(status=status, retry_after=retry_after, error_message=message)] * times)

    def _next_reply(self, request: FakeRequest) -> FakeReply:
        with self._lock:
            self.requests.append(request)
            scripted = self._script.popleft() if self._script else None
        answer = scripted if scripted is not None else self._reply_fn(request)
        return answer if isinstance(answer, FakeReply) else FakeReply(text=answer)


def _make_handler(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            path = self.path.split("?")[0].rstrip("/")
            api: Api | None = ("openai" if path.endswith("/chat/completions")
                               else "anthropic" if path.endswith("/v1/messages") else None)
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            if api is None:
                self._send(404, {"error": {"message": f"no route {path}"}})
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._send(400, {"error": {"message": "body is not JSON"}})
                return
            request = FakeRequest(api=api, path=path, headers={k.lower(): v for k, v in self.headers.items()},
                                  body=body)
            reply = server._next_reply(request)
            if reply.delay:
                time.sleep(reply.delay)
            if reply.status >= 400:
                headers = {"retry-after": str(reply.retry_after)} if reply.retry_after is not None else {}
                self._send(reply.status, _error_body(api, reply), headers)
                return
            self._send(200, _reply_body(api, request, reply))

        def _send(self, status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                pass

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read `requests` instead
            return

    return Handler


def _words(text: str) -> int:
    return len(text.split())


def _reply_body(api: Api, request: FakeRequest, reply: FakeReply) -> dict[str, Any]:
    model = reply.model or str(request.body.get("model") or "fake-model")
    prompt = " ".join(str(m.get("content")) for m in request.messages) + " " + request.system
    input_tokens = reply.input_tokens if reply.input_tokens is not None else _words(prompt)
    output_tokens = reply.output_tokens if reply.output_tokens is not None else _words(reply.text)
    if api == "anthropic":
        return {"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": reply.text}],
                "stop_reason": reply.finish_reason or "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}}
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                         "finish_reason": reply.finish_reason or "stop"}],
            "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                      "total_tokens": input_tokens + output_tokens}}


def _error_body(api: Api, reply: FakeReply) -> dict[str, Any]:
    if api == "anthropic":
        kind = "rate_limit_error" if reply.status == 429 else "api_error"
        return {"type": "error", "error": {"type": kind, "message": reply.error_message}}
    kind = "rate_limit_exceeded" if reply.status == 429 else "server_error"
    return {"error": {"message": reply.error_message, "type": kind, "code": None}}
