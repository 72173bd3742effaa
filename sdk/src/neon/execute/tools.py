"""Running a spec's tools: `resolve_tool` gives an async callable for a tool's implementation, and
`validate_arguments` checks a model's arguments against the tool's JSON Schema before anything runs.

    call = resolve_tool(spec.tool("lookup_order"))    # ToolResolutionError says what failed to import
    validate_arguments(tool, arguments)               # ToolArgumentsError names every bad field
    result = await call(arguments)

Python tools are called with the arguments as keyword arguments: async functions are awaited, others run in a
thread so they cannot block the event loop. HTTP tools send the arguments as JSON (as query parameters for GET)
and return the JSON reply (or the text, when the reply is not JSON). Timeouts of Python tools are the caller's to
enforce (a Temporal activity's timeout); HTTP calls time out on their own.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from neon.execute.errors import format_path
from neon.execute.schema import instance_problems, type_name
from neon.execute.spec import HttpImplementation, PythonImplementation, ToolSpec

ToolFunction = Callable[[Mapping[str, Any]], Awaitable[Any]]
"""A resolved tool: called with the arguments (a JSON object), returns the tool's result."""

BODY_PREVIEW = 500
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ToolError(Exception):
    """A tool that cannot be resolved or whose call failed; the message names the tool."""

    def __init__(self, tool: str, message: str) -> None:
        super().__init__(f"tool {tool!r}: {message}")
        self.tool = tool
        self.reason = message


class ToolResolutionError(ToolError):
    """A Python implementation that does not resolve: module not found, no such attribute, or not callable."""


class ToolHTTPError(ToolError):
    """An HTTP tool answered outside 2xx; `status` and the start of the body are kept."""

    def __init__(self, tool: str, status: int, body: str) -> None:
        super().__init__(tool, f"HTTP {status}: {body[:BODY_PREVIEW]}")
        self.status = status
        self.body = body[:BODY_PREVIEW]


class ToolArgumentsError(ToolError):
    """Arguments that do not fit the tool's parameters. `errors` is a list of (field, message), one per
    problem; the message is written to be shown to the model, which can then correct its call."""

    def __init__(self, tool: str, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        listed = "; ".join(f"{field}: {message}" if field else message for field, message in errors)
        super().__init__(tool, f"invalid arguments: {listed}")


def validate_arguments(tool: ToolSpec, arguments: Any) -> None:
    """Raise ToolArgumentsError naming every argument that breaks `tool.parameters` (all of them, not the first)."""
    if not isinstance(arguments, Mapping):
        raise ToolArgumentsError(tool.name, [("", f"arguments must be a JSON object, got {type_name(arguments)}")])
    problems = instance_problems(tool.parameters, dict(arguments))
    if problems:
        raise ToolArgumentsError(tool.name, [(format_path(p.path), p.message) for p in problems])


def resolve_tool(tool: ToolSpec, *, http_client: httpx.AsyncClient | None = None,
                 env: Mapping[str, str] | None = None) -> ToolFunction:
    """An async callable running `tool`. Python import paths are imported now, so a wrong path fails here with
    a ToolResolutionError. HTTP tools use `http_client` when given (the caller closes it), else a client per
    call; `env` (default: the process environment) fills `${VAR}` in header values at call time."""
    implementation = tool.implementation
    if isinstance(implementation, PythonImplementation):
        return _python_tool(tool.name, _import(tool.name, implementation.function))
    if isinstance(implementation, HttpImplementation):
        return _http_tool(tool, implementation, http_client, env)
    raise ToolResolutionError(tool.name, f"unknown implementation {implementation!r}")


def _import(tool: str, path: str) -> Callable[..., Any]:
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ToolResolutionError(tool, f"{path!r} is not an import path 'package.module:function'")
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise ToolResolutionError(tool, f"module {module_name!r} not found ({exc}); is its folder on the "
                                            "Python path (PYTHONPATH)?") from None
        raise ToolResolutionError(tool, f"importing {module_name!r} failed: {exc}") from exc
    except Exception as exc:  # its own import raised: say so rather than blaming the path
        raise ToolResolutionError(tool, f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
    walked = module_name
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ToolResolutionError(tool, f"{walked!r} has no attribute {part!r} (from {path!r})")
        target = getattr(target, part)
        walked = f"{walked}:{part}" if walked == module_name else f"{walked}.{part}"
    if not callable(target):
        raise ToolResolutionError(tool, f"{path!r} is not callable (it is a {type(target).__name__})")
    function: Callable[..., Any] = target
    return function


def _python_tool(name: str, function: Callable[..., Any]) -> ToolFunction:
    # an object whose __call__ is async counts as async too
    is_async = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(type(function).__call__)

    async def call(arguments: Mapping[str, Any]) -> Any:
        if is_async:
            return await function(**arguments)
        result = await asyncio.to_thread(function, **arguments)
        return await result if inspect.isawaitable(result) else result

    call.__name__ = f"tool_{name}"
    return call


def _http_tool(tool: ToolSpec, endpoint: HttpImplementation, client: httpx.AsyncClient | None,
               env: Mapping[str, str] | None) -> ToolFunction:
    timeout = endpoint.timeout_seconds or tool.timeout_seconds

    async def call(arguments: Mapping[str, Any]) -> Any:
        headers = {key: _expand(tool.name, key, value, os.environ if env is None else env)
                   for key, value in endpoint.headers.items()}
        body: dict[str, Any] = ({"params": {k: _query_value(v) for k, v in arguments.items()}}
                                if endpoint.method == "GET" else {"json": dict(arguments)})
        if client is not None:
            response = await client.request(endpoint.method, endpoint.url, headers=headers, timeout=timeout, **body)
        else:
            async with httpx.AsyncClient(timeout=timeout) as own:
                response = await own.request(endpoint.method, endpoint.url, headers=headers, **body)
        if not response.is_success:
            raise ToolHTTPError(tool.name, response.status_code, response.text)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    call.__name__ = f"tool_{tool.name}"
    return call


def _expand(tool: str, header: str, value: str, env: Mapping[str, str]) -> str:
    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ToolError(tool, f"header {header!r} needs the environment variable {name}, which is not set")
        return env[name]

    return _ENV_REF.sub(lookup, value)


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value)
    return value
