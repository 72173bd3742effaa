"""Live tail: Server-Sent Events of new traces (and of spans added to traces) in the caller's project.

    GET /api/live/traces?status=error&environment=prod

`event: trace` carries a new trace's root span (name, status, start, duration, service, session, user,
agent, version, environment), filtered by the parameters given; `event: spans` lists the trace ids that just
received spans, so a client can refresh rows it shows. A comment line every 15 s keeps proxies from closing
the stream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.schemas import LiveTrace

router = APIRouter(tags=["live"])
KEEPALIVE_SECONDS = 15.0


def _matches(root: dict[str, Any], status: str | None, name_contains: str | None, exact: dict[str, str]) -> bool:
    if status is not None and root["status"] != status:
        return False
    if name_contains and name_contains.lower() not in str(root["name"]).lower():
        return False
    return all(str(root.get(key, "")) == value for key, value in exact.items())


@router.get("/api/live/traces", summary="Server-Sent Events: new traces as they are written",
            responses={200: {"content": {"text/event-stream": {"schema": LiveTrace.model_json_schema()}},
                             "description": "`event: trace` (LiveTrace) and `event: spans` ({trace_ids})"}})
async def live_traces(request: Request, services: ServicesDep, principal: PrincipalDep,
                      status: Literal["ok", "error", "unset"] | None = None, name_contains: str | None = None,
                      name: str | None = None, service: str | None = None, session_id: str | None = None,
                      user_id: str | None = None, agent_id: str | None = None, agent_version: str | None = None,
                      environment: str | None = None) -> StreamingResponse:
    given = {"name": name, "service": service, "session_id": session_id, "user_id": user_id,
             "agent_id": agent_id, "agent_version": agent_version, "environment": environment}
    exact = {k: v for k, v in given.items() if v is not None}
    subscription = services.live.subscribe(principal.project_id)

    async def events() -> AsyncIterator[str]:
        try:
            yield "retry: 3000\n: connected\n\n"
            quiet_since = time.monotonic()
            while not await request.is_disconnected():
                try:  # wake up every second to notice a client that went away
                    event = await asyncio.wait_for(subscription.queue.get(), 1.0)
                except TimeoutError:
                    if time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                        quiet_since = time.monotonic()
                        yield ": keepalive\n\n"
                    continue
                quiet_since = time.monotonic()
                for root in event["root_spans"]:
                    if _matches(root, status, name_contains, exact):
                        yield f"event: trace\ndata: {json.dumps(root)}\n\n"
                yield f"event: spans\ndata: {json.dumps({'trace_ids': event['trace_ids']})}\n\n"
        finally:
            services.live.unsubscribe(subscription)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
