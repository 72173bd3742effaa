"""A fake LLM server for tests: real HTTP on 127.0.0.1, speaking OpenAI chat completions and Anthropic messages.

    from neon.llm.fake import FakeLLMServer, FakeReply, FakeToolCall

    with FakeLLMServer(replies=['{"score": 8, "reasoning": "good"}']) as server:
        provider = server.provider("openai", model="judge")         # or "anthropic"
        await provider.complete("hi")
        assert server.requests[0].body["model"] == "judge"

Replies are taken in order from the script (`replies=` or `server.queue(...)`); when the script is empty,
`reply=` (a function of the request, such as a `ConversationScript`) answers, and without one the server
echoes the last user message. A reply is a string, or a `FakeReply` to set tool calls, status, `Retry-After`,
delays, token usage or a finish reason. A request with `stream: true` is answered with server-sent events in
the API's shape. Only the standard library is used, so users' tests can rely on it wherever the SDK installs.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from neon.llm.anthropic import AnthropicProvider
from neon.llm.base import HTTPProvider
from neon.llm.fake_wire import Api, conversation_key, error_body, reply_body, stream_events
from neon.llm.openai import OpenAIProvider


@dataclass(frozen=True)
class FakeToolCall:
    """A tool call the fake model makes. `arguments` is an object, or JSON text sent as it is (so a test can
    send invalid JSON); without an `id`, one is derived from the conversation (the same request, the same id)."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class FakeReply:
    """One scripted answer.

    - `text`, `tool_calls`: what the model says and which tools it calls (`finish_reason` then defaults to
      `tool_calls` / `tool_use`)
    - `status` of 400 or more sends an error in the API's error shape with `error_message`, `retry_after` as the
      `Retry-After` header and `retry_after_ms` as `retry-after-ms`
    - `delay` (seconds) is waited before answering (for timeouts); `stream_delay` before each streamed chunk of
      text or arguments (to watch tokens arrive)
    - `disconnect_after`: cut the connection after that many streamed chunks of content (0: before any reply)
    - `input_tokens`, `output_tokens`, `model`: usage and answering model (defaults: word counts, the request's)"""

    text: str = ""
    status: int = 200
    retry_after: str | float | None = None
    delay: float = 0.0
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    error_message: str = "fake error"
    model: str | None = None
    tool_calls: Sequence[FakeToolCall] = ()
    retry_after_ms: float | None = None
    stream_delay: float = 0.0
    disconnect_after: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tool_calls", tuple(self.tool_calls))

    @property
    def failed(self) -> bool:
        """Whether this reply fails the request (an error status or a cut connection)."""
        return self.status >= 400 or self.disconnect_after is not None


@dataclass(frozen=True)
class FakeRequest:
    """A request the server received: which API shape, the path, headers (lower-cased names), JSON body, and
    when it arrived (`time.monotonic()`, to check how long a client waited between attempts)."""

    api: Api
    path: str
    headers: Mapping[str, str]
    body: Mapping[str, Any] = field(default_factory=dict)
    received_at: float = field(default_factory=time.monotonic)

    @property
    def messages(self) -> list[Mapping[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def last_user_message(self) -> str:
        """The text of the last user message (Anthropic tool results, which ride in user messages, skipped)."""
        for message in reversed(self.messages):
            if message.get("role") != "user":
                continue
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list) and all(
                    isinstance(b, Mapping) and b.get("type") == "tool_result" for b in content):
                continue
            return json.dumps(content)
        return ""

    @property
    def system(self) -> str:
        """The system prompt, wherever the API puts it."""
        if self.api == "anthropic":
            return str(self.body.get("system") or "")
        return "\n\n".join(str(m.get("content")) for m in self.messages if m.get("role") == "system")

    @property
    def tool_names(self) -> list[str]:
        """The names of the tools offered."""
        return [str((tool.get("function") or tool).get("name")) for tool in self.body.get("tools") or ()]

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        """The tool results sent since the model's last turn, as `{"tool_call_id", "content", "is_error"}`
        in either API: what this request reports back to the model (empty when it reports none)."""
        results: list[dict[str, Any]] = []
        for message in reversed(self.messages):
            if message.get("role") == "assistant":
                break
            if message.get("role") == "tool":
                results.append({"tool_call_id": message.get("tool_call_id"), "content": message.get("content"),
                                "is_error": False})
            content = message.get("content")
            if message.get("role") == "user" and isinstance(content, list):
                results.extend({"tool_call_id": b.get("tool_use_id"), "content": b.get("content"),
                                "is_error": bool(b.get("is_error"))}
                               for b in reversed(content) if isinstance(b, Mapping) and b.get("type") == "tool_result")
        return results[::-1]

    @property
    def assistant_turns(self) -> int:
        """How many times the model has spoken in this conversation (the agent's step, counted in LLM calls)."""
        return sum(1 for m in self.messages if m.get("role") == "assistant")

    @property
    def conversation_key(self) -> str:
        """A digest of the system prompt, messages and tools: equal for a request sent again (a retry, a replay)."""
        return conversation_key(self.body)


ReplyFn = Callable[[FakeRequest], "str | FakeReply"]


def echo(request: FakeRequest) -> str:
    """The default reply: the last user message."""
    return request.last_user_message


class ConversationScript:
    """Replies for a multi-step agent, chosen by the conversation so far: a conversation not seen before takes
    the next reply in order; one seen before (the same request sent again after a crash, a retry, a replay) gets
    the answer it got the first time. Failed replies (`FakeReply.failed`) are not remembered, so a scripted
    503 is followed, for the same conversation, by the next reply.

        script = ConversationScript([FakeReply(tool_calls=[FakeToolCall("search", {"q": "x"})]),
                                     FakeReply(text="found it")])
        with FakeLLMServer(reply=script) as server: ...

    When the script runs out, the answer is a 400 saying so (a test that makes one call too many fails with
    a clear message instead of looping on retries)."""

    def __init__(self, replies: Iterable[str | FakeReply]) -> None:
        self._replies = list(replies)
        self._next = 0
        self._answers: dict[str, str | FakeReply] = {}
        self._lock = threading.Lock()
        self.repeats = 0  # requests answered from memory

    @property
    def used(self) -> int:
        """How many scripted replies have been given out."""
        return self._next

    def __call__(self, request: FakeRequest) -> str | FakeReply:
        key = request.conversation_key
        with self._lock:
            if key in self._answers:
                self.repeats += 1
                return self._answers[key]
            if self._next >= len(self._replies):
                return FakeReply(status=400, error_message=(
                    f"ConversationScript has no reply number {self._next + 1} (it has {len(self._replies)}); "
                    f"the conversation has {len(request.messages)} messages"))
            answer = self._replies[self._next]
            self._next += 1
            if not (isinstance(answer, FakeReply) and answer.failed):
                self._answers[key] = answer
            return answer


class FakeLLMServer:
    """The server; use it as a context manager (or `start()` / `stop()`). Thread-safe. `requests` lists every
    request received, in order (so a test can prove that a call was not made twice)."""

    def __init__(self, replies: Iterable[str | FakeReply] = (), *, reply: ReplyFn | None = None,
                 port: int = 0) -> None:
        """`port=0` picks a free port (tests); a fixed one suits a demo that others point at."""
        self._port = port
        self._script: deque[str | FakeReply] = deque(replies)
        self._reply_fn = reply or echo
        self._lock = threading.Lock()
        self.requests: list[FakeRequest] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> FakeLLMServer:
        handler = _make_handler(self)
        self._httpd = _QuietHTTPServer(("127.0.0.1", self._port), handler)
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


class _QuietHTTPServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (a test stopping a stream early, a timeout) is not the server's error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


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
                if reply.retry_after_ms is not None:
                    headers["retry-after-ms"] = f"{reply.retry_after_ms:g}"
                self._send(reply.status, error_body(api, reply), headers)
            elif reply.disconnect_after is not None and not request.stream:
                self.close_connection = True  # hang up without a word
            elif request.stream:
                self._send_stream(api, request, reply)
            else:
                self._send(200, reply_body(api, request, reply))

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

        def _send_stream(self, api: Api, request: FakeRequest, reply: FakeReply) -> None:
            # Chunked, as real servers stream: a cut connection is then visibly incomplete to the client.
            sent = 0
            try:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for data, content in stream_events(api, request, reply):
                    if content and reply.disconnect_after is not None and sent >= reply.disconnect_after:
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    if content and reply.stream_delay:
                        time.sleep(reply.stream_delay)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                    sent += content
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):  # the client stopped reading
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read `requests` instead
            return

    return Handler
