"""The run stream: token deltas and step/status events of agent runs, from workers to live subscribers.

    POST /api/agent-runs/{run_id}/stream   [{type, step_key, attempt, text?, data?}, …]   (API key or run token)
    GET  /api/agent-runs/{run_id}/events   Server-Sent Events of that run                  (API key)

Nothing is stored (services/run_stream.py): a subscriber sees what is published while it listens, and a
`dropped` event where it fell behind. A comment line every 15 s keeps proxies from closing the stream.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from neon_server.api.bodies import read_body
from neon_server.api.deps import KeyOrRunTokenDep, PrincipalDep, ServicesDep
from neon_server.api.live import KEEPALIVE_SECONDS
from neon_server.services.errors import InvalidInput
from neon_server.services.run_stream import RESERVED_TYPES

router = APIRouter(tags=["agent runs"])

RunId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,128}$", description="the run id (`run_…`)")]
MAX_EVENTS = 10_000


class RunStreamEvent(BaseModel):
    """One event of a run's stream. Deltas carry the attempt, so a subscriber can discard the text of a failed
    attempt when the next one starts."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$",
                      description="delta (text of a streaming LLM call), step, status, … (not `dropped`)")
    step_key: str = Field(max_length=128, description='the step ("{turn}.{index}"); "" for the run as a whole')
    attempt: int = Field(ge=1, le=1_000_000, description="the activity attempt that produced the event")
    text: str | None = Field(default=None, description="a delta's text")
    data: dict[str, Any] | None = Field(default=None, description="anything else the event carries")

    @field_validator("type")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_TYPES:
            raise ValueError(f"{value!r} is made by the server and cannot be published")
        return value


class Published(BaseModel):
    published: int = Field(description="events accepted")
    subscribers: int = Field(description="subscribers of the run in this process when they were handed out")


EVENTS = TypeAdapter(list[RunStreamEvent])


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        parts.append(f"{loc or 'body'}: {err['msg']}")
    more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "; ".join(parts) + more


@router.post("/api/agent-runs/{run_id}/stream", summary="Publish events to a run's live subscribers",
             response_model=Published, responses={401: {}, 403: {}, 413: {}, 422: {}},
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"type": "array", "items": RunStreamEvent.model_json_schema()}}}}})
async def publish(run_id: RunId, request: Request, services: ServicesDep, principal: KeyOrRunTokenDep) -> Published:
    limit = services.settings.run_stream_max_body_bytes
    setting = "NEON_RUN_STREAM_MAX_BODY_BYTES"
    body = await read_body(request, limit, limit, setting=setting, decompressed_setting=setting)
    try:
        events = EVENTS.validate_json(body)
    except ValidationError as exc:
        raise InvalidInput(f"run stream events: {_describe(exc)}") from None
    if len(events) > MAX_EVENTS:
        raise InvalidInput(f"{len(events)} events in one request: at most {MAX_EVENTS}")
    dumped = [event.model_dump(exclude_none=True) for event in events]
    subscribers = services.run_stream.publish(principal.project_id, run_id, dumped)
    return Published(published=len(dumped), subscribers=subscribers)


@router.get("/api/agent-runs/{run_id}/events", summary="Server-Sent Events of one run, as workers publish them",
            responses={200: {"content": {"text/event-stream": {
                "schema": RunStreamEvent.model_json_schema()}},
                "description": "`event: <type>` with the event as data; `event: dropped` ({count, total_dropped}) "
                               "where this subscriber fell behind"}, 401: {}, 403: {}})
async def run_events(run_id: RunId, request: Request, services: ServicesDep,
                     principal: PrincipalDep) -> StreamingResponse:
    subscription = services.run_stream.subscribe(principal.project_id, run_id)

    async def frames() -> AsyncIterator[str]:
        try:
            yield "retry: 3000\n: connected\n\n"
            quiet_since = time.monotonic()
            while not await request.is_disconnected():
                frame = await subscription.next(wait_seconds=1.0)  # wake up every second to notice a client gone
                if frame is None:
                    if time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                        quiet_since = time.monotonic()
                        yield ": keepalive\n\n"
                    continue
                quiet_since = time.monotonic()
                yield frame
        finally:
            services.run_stream.unsubscribe(subscription)

    return StreamingResponse(frames(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
