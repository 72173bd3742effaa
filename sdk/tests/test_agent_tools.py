"""Agent tools: Python import paths resolved (and their failures named), HTTP tools against a real local server,
and argument validation that names every bad field."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from neon.execute import (
    HttpImplementation,
    PythonImplementation,
    ToolArgumentsError,
    ToolError,
    ToolHTTPError,
    ToolResolutionError,
    ToolSpec,
    load_spec,
    resolve_tool,
    validate_arguments,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def example_tools(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The example spec, run from the repository root (where `examples.agents.tools` imports)."""
    monkeypatch.syspath_prepend(str(ROOT))
    return load_spec(ROOT / "examples" / "agents" / "support.yaml")


def python_tool(path: str, name: str = "t") -> ToolSpec:
    return ToolSpec(name=name, description="d", implementation=PythonImplementation(function=path))


def test_python_tools_sync_in_a_thread_and_async_awaited(example_tools: Any) -> None:
    lookup = resolve_tool(example_tools.tool("lookup_order"))
    policy = resolve_tool(example_tools.tool("lookup_policy"))
    refund = resolve_tool(example_tools.tool("issue_refund"))

    async def run() -> tuple[Any, Any, Any]:
        return (await lookup({"order_id": "A1001"}), await policy({"topic": "refunds"}),
                await refund({"order_id": "A1001", "amount_eur": 10, "reason": "dented"}))

    order, text, refunded = asyncio.run(run())
    assert order["status"] == "delivered"
    assert order["total_eur"] == 39.90
    assert text.startswith("Delivered orders can be refunded within 30 days")
    assert refunded == {"refund_id": "R-A1001-1000", "order_id": "A1001", "amount_eur": 10.0, "reason": "dented",
                        "status": "issued"}
    from examples.agents.tools import OrderNotFound, RefundRefused

    with pytest.raises(OrderNotFound):
        asyncio.run(lookup({"order_id": "A9999"}))
    with pytest.raises(RefundRefused, match="more than the order total"):
        asyncio.run(refund({"order_id": "A1001", "amount_eur": 100, "reason": "too much"}))


def test_sync_tools_do_not_run_on_the_event_loop_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "where_tool.py").write_text("import threading\ndef where():\n    return threading.get_ident()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    call = resolve_tool(python_tool("where_tool:where"))

    async def run() -> tuple[int, int]:
        return threading.get_ident(), await call({})

    loop_thread, tool_thread = asyncio.run(run())
    assert loop_thread != tool_thread


@pytest.mark.parametrize(("path", "message"), [
    ("examples.agents.nothere:lookup_order", "tool 't': module 'examples.agents.nothere' not found"),
    ("examples.agents.tools:lookup_ordr", "tool 't': 'examples.agents.tools' has no attribute 'lookup_ordr'"),
    ("examples.agents.tools:ORDERS.get.nope", "tool 't': 'examples.agents.tools:ORDERS.get' has no attribute 'nope'"),
    ("examples.agents.tools:POLICIES", "tool 't': 'examples.agents.tools:POLICIES' is not callable (it is a dict)"),
])
def test_bad_import_paths_say_what_failed(example_tools: Any, path: str, message: str) -> None:
    with pytest.raises(ToolResolutionError) as caught:
        resolve_tool(python_tool(path))
    assert str(caught.value).startswith(message), str(caught.value)
    assert caught.value.tool == "t"


def test_a_module_that_fails_to_import_is_not_blamed_on_the_path(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken_tool.py").write_text("import no_such_dependency_xyz\ndef run():\n    pass\n")
    (tmp_path / "raising_tool.py").write_text("raise RuntimeError('config missing')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ToolResolutionError, match=r"importing 'broken_tool' failed: No module named "
                                                  r"'no_such_dependency_xyz'"):
        resolve_tool(python_tool("broken_tool:run"))
    with pytest.raises(ToolResolutionError, match="importing 'raising_tool' failed: RuntimeError: config missing"):
        resolve_tool(python_tool("raising_tool:run"))
    sys.modules.pop("broken_tool", None)
    sys.modules.pop("raising_tool", None)


def test_arguments_are_validated_naming_every_bad_field(example_tools: Any) -> None:
    refund = example_tools.tool("issue_refund")
    validate_arguments(refund, {"order_id": "A1001", "amount_eur": 5.5, "reason": "broken lid"})
    with pytest.raises(ToolArgumentsError) as caught:
        validate_arguments(refund, {"order_id": "1001", "amount_eur": "ten", "note": "x"})
    assert sorted(caught.value.errors) == [
        ("amount_eur", "expected number, got string 'ten'"),
        ("note", "unknown key 'note'; known keys: order_id, amount_eur, reason"),
        ("order_id", "does not match the pattern '^A[0-9]{4}$'; got '1001'"),
        ("reason", "missing required field"),
    ]
    assert str(caught.value).startswith("tool 'issue_refund': invalid arguments: ")
    assert "reason: missing required field" in str(caught.value)
    with pytest.raises(ToolArgumentsError, match="arguments must be a JSON object, got array"):
        validate_arguments(refund, ["A1001"])
    notify = ToolSpec(name="notify", description="d", implementation=PythonImplementation(function="m:f"),
                      parameters={"type": "object", "properties": {"to": {"type": "string", "format": "email"}}})
    validate_arguments(notify, {"to": "ada@example.com"})
    with pytest.raises(ToolArgumentsError) as formats:
        validate_arguments(notify, {"to": "ada at example"})
    assert formats.value.errors == [("to", "expected email format, got 'ada at example'")]


# ------------------------------------------------------------------ HTTP tools against a real server
class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        arguments = json.loads(self.rfile.read(length))
        if self.path == "/fail":
            self._reply(503, b"upstream is down, try later " + b"x" * 1000, "text/plain")
            return
        if self.path == "/text":
            self._reply(200, b"plain words", "text/plain")
            return
        echo = {"method": "POST", "arguments": arguments, "auth": self.headers.get("Authorization")}
        self._reply(200, json.dumps(echo).encode())

    def do_GET(self) -> None:
        self._reply(200, json.dumps({"method": "GET", "path": self.path}).encode())


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def http_tool(url: str, **options: Any) -> ToolSpec:
    return ToolSpec(name="remote", description="d", implementation=HttpImplementation(url=url, **options),
                    timeout_seconds=5)


def test_http_tools_post_json_and_return_json(server: str) -> None:
    tool = http_tool(f"{server}/lookup", headers={"Authorization": "Bearer ${ORDERS_TOKEN}"})
    call = resolve_tool(tool, env={"ORDERS_TOKEN": "s3cret"})
    reply = asyncio.run(call({"order_id": "A1001", "qty": 2}))
    assert reply == {"method": "POST", "arguments": {"order_id": "A1001", "qty": 2}, "auth": "Bearer s3cret"}
    assert asyncio.run(resolve_tool(http_tool(f"{server}/text"))({})) == "plain words"
    got = asyncio.run(resolve_tool(http_tool(f"{server}/find", method="GET"))({"q": "kettle", "exact": True}))
    assert got == {"method": "GET", "path": "/find?q=kettle&exact=true"}


def test_http_tool_errors_carry_status_and_body_start(server: str) -> None:
    with pytest.raises(ToolHTTPError) as caught:
        asyncio.run(resolve_tool(http_tool(f"{server}/fail"))({"a": 1}))
    assert caught.value.status == 503
    assert str(caught.value).startswith("tool 'remote': HTTP 503: upstream is down, try later xxx")
    assert len(caught.value.body) == 500
    needs_secret = resolve_tool(http_tool(f"{server}/x", headers={"X-Key": "${MISSING_VAR_XYZ}"}), env={})
    with pytest.raises(ToolError, match="header 'X-Key' needs the environment variable MISSING_VAR_XYZ"):
        asyncio.run(needs_secret({}))
