"""Every dependency of every route is a coroutine function: FastAPI runs a plain `def` dependency in a worker
thread, one thread hop per request (measured at ~17% of the OTLP endpoint's event-loop time under load)."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from neon_server.app import create_app


def sync_dependencies(dependant: Dependant, path: str) -> list[str]:
    found = []
    for sub in dependant.dependencies:
        call: Any = sub.call
        target = call if inspect.isroutine(call) else getattr(call, "__call__", call)  # noqa: B004
        if not inspect.iscoroutinefunction(target):
            found.append(f"{path}: {getattr(call, '__qualname__', repr(call))}")
        found += sync_dependencies(sub, path)
    return found


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """The app's API routes, through included routers."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found += api_routes(route.original_router.routes)
    return found


def test_no_route_has_a_dependency_that_runs_in_a_worker_thread() -> None:
    routes = api_routes(create_app(None).routes)
    assert len(routes) > 50
    problems = [p for r in routes for p in sync_dependencies(r.dependant, f"{','.join(r.methods)} {r.path}")]
    assert problems == []
