"""One trace: summary and light span tree; a span's payload fetched separately, so big traces open fast."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.errors import errors
from neon_server.api.params import (
    ATTRIBUTE_PATTERN,
    CURSOR,
    MAX_COUNT,
    MAX_DURATION_MS,
    SPAN_ID_PATTERN,
    TRACE_ID_PATTERN,
    Time,
)
from neon_server.api.schemas import (
    Analytics,
    SessionPage,
    SpanPage,
    SpanPayload,
    TraceDetail,
    TracePage,
    ok,
)
from neon_server.domain.time_range import within_store_range
from neon_server.services.errors import InvalidInput
from neon_server.storage.analytics.span_list import SPAN_EXACT, SpanFilter
from neon_server.storage.analytics.trace_list import EXACT_FIELDS, Page, TraceFilter

router = APIRouter(tags=["traces"])

FROM = "start of the range (inclusive); default: `to` minus 24 h"
TO = "end of the range (exclusive); default: now. Times before 1970 or after 2149 count as those bounds"
ATTR = "KEY=VALUE on any span of the trace (or its resource); repeatable"
TRACE_ID = "32 hex characters, or a UUID"


@router.get("/api/traces", summary="Traces of the caller's project, filtered, sorted and paginated",
            responses=ok(TracePage))
async def list_traces(
    services: ServicesDep, principal: PrincipalDep,
    start: Annotated[Time | None, Query(alias="from", description=FROM)] = None,
    end: Annotated[Time | None, Query(alias="to", description=TO)] = None,
    status: Literal["ok", "error", "unset"] | None = None,
    name: str | None = None, name_contains: str | None = None, service: str | None = None,
    session_id: str | None = None, user_id: str | None = None, agent_id: str | None = None,
    agent_version: str | None = None, environment: str | None = None,
    model: str | None = None, tool: str | None = None,
    tag: Annotated[list[str] | None, Query(description="repeat for several: all must be present")] = None,
    attr: Annotated[list[Annotated[str, Query(pattern=ATTRIBUTE_PATTERN)]] | None, Query(description=ATTR)] = None,
    min_duration_ms: Annotated[float | None, Query(ge=0, le=MAX_DURATION_MS)] = None,
    min_tokens: Annotated[int | None, Query(ge=0, le=MAX_COUNT)] = None,
    max_tokens: Annotated[int | None, Query(ge=0, le=MAX_COUNT)] = None,
    min_cost: Annotated[float | None, Query(ge=0)] = None, max_cost: Annotated[float | None, Query(ge=0)] = None,
    score_name: str | None = None, score_min: float | None = None, score_max: float | None = None,
    search: Annotated[str | None, Query(min_length=1, max_length=500, description="text in inputs/outputs")] = None,
    sort: Literal["time", "duration", "cost", "tokens"] = "time",
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description=CURSOR)] = None,
) -> JSONResponse:
    to, since = _window(start, end)
    attributes = _attributes(attr)
    given = {"name": name, "service": service, "session_id": session_id, "user_id": user_id, "agent_id": agent_id,
             "agent_version": agent_version, "environment": environment}
    flt = TraceFilter(
        start=since, end=to, status=status,
        name_contains=name_contains, exact={k: v for k, v in given.items() if v is not None and k in EXACT_FIELDS},
        model=model, tool=tool, tags=tag or [], attributes=attributes, min_duration_ms=min_duration_ms,
        min_tokens=min_tokens, max_tokens=max_tokens, min_cost=min_cost, max_cost=max_cost, score_name=score_name,
        score_min=score_min, score_max=score_max, search=search)
    page = Page(sort=sort, descending=order == "desc", limit=limit)
    result = await run_in_threadpool(services.trace_list.list, principal.project_id, flt, page, cursor)
    return JSONResponse(jsonable_encoder(result))


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """(to, from) in UTC, within the store's range: `to` defaults to now, `from` to 24 hours before `to`."""
    to = within_store_range(end) if end else datetime.now(UTC)
    return to, within_store_range(start if start else to - timedelta(hours=24))


def _attributes(items: list[str] | None) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"attr must look like KEY=VALUE, got {item!r}")
        attributes[key] = value
    return attributes


@router.get("/api/spans", summary="Spans of the caller's project, with the trace list's filter vocabulary",
            responses=ok(SpanPage))
async def list_spans(
    services: ServicesDep, principal: PrincipalDep,
    start: Annotated[Time | None, Query(alias="from", description=FROM)] = None,
    end: Annotated[Time | None, Query(alias="to", description=TO)] = None,
    status: Literal["ok", "error", "unset"] | None = None,
    trace_id: str | None = None, name: str | None = None, name_contains: str | None = None,
    span_type: str | None = None, component_type: str | None = None, service: str | None = None,
    model: str | None = None, provider: str | None = None, tool: str | None = None,
    session_id: str | None = None, user_id: str | None = None, agent_id: str | None = None,
    agent_version: str | None = None, environment: str | None = None,
    tag: Annotated[list[str] | None, Query()] = None,
    attr: Annotated[list[Annotated[str, Query(pattern=ATTRIBUTE_PATTERN)]] | None, Query(description=ATTR)] = None,
    min_duration_ms: Annotated[float | None, Query(ge=0, le=MAX_DURATION_MS)] = None,
    min_tokens: Annotated[int | None, Query(ge=0, le=MAX_COUNT)] = None,
    max_tokens: Annotated[int | None, Query(ge=0, le=MAX_COUNT)] = None,
    min_cost: Annotated[float | None, Query(ge=0)] = None, max_cost: Annotated[float | None, Query(ge=0)] = None,
    sort: Literal["time", "duration", "cost", "tokens"] = "time", order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description=CURSOR)] = None,
) -> JSONResponse:
    to, since = _window(start, end)
    given = {"trace_id": trace_id, "name": name, "span_type": span_type, "component_type": component_type,
             "service": service, "model": model, "provider": provider, "tool_name": tool, "session_id": session_id,
             "user_id": user_id, "agent_id": agent_id, "agent_version": agent_version, "environment": environment}
    flt = SpanFilter(start=since, end=to, status=status, name_contains=name_contains,
                     exact={k: v for k, v in given.items() if v is not None and k in SPAN_EXACT}, tags=tag or [],
                     attributes=_attributes(attr), min_duration_ms=min_duration_ms, min_tokens=min_tokens,
                     max_tokens=max_tokens, min_cost=min_cost, max_cost=max_cost)
    page = Page(sort=sort, descending=order == "desc", limit=limit)
    result = await run_in_threadpool(services.span_list.spans, principal.project_id, flt, page, cursor)
    return JSONResponse(jsonable_encoder(result))


@router.get("/api/analytics", summary="Counts, errors, latency percentiles, tokens and cost by model, scores",
            responses=ok(Analytics))
async def analytics(
    services: ServicesDep, principal: PrincipalDep,
    start: Annotated[Time | None, Query(alias="from", description=FROM)] = None,
    end: Annotated[Time | None, Query(alias="to", description=TO)] = None,
    bucket: Literal["1m", "5m", "15m", "1h", "6h", "1d"] | None = None,
) -> JSONResponse:
    to, since = _window(start, end)
    result = await run_in_threadpool(services.stats.overview, principal.project_id, since, to, bucket)
    return JSONResponse(jsonable_encoder(result))


@router.get("/api/sessions", summary="Sessions: traces grouped by session id, most recently active first",
            responses=ok(SessionPage))
async def list_sessions(
    services: ServicesDep, principal: PrincipalDep,
    start: Annotated[Time | None, Query(alias="from", description=FROM)] = None,
    end: Annotated[Time | None, Query(alias="to", description=TO)] = None,
    user_id: str | None = None, agent_id: str | None = None, environment: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description=CURSOR)] = None,
) -> JSONResponse:
    to, since = _window(start, end)
    exact = {k: v for k, v in {"user_id": user_id, "agent_id": agent_id, "environment": environment}.items()
             if v is not None}
    result = await run_in_threadpool(lambda: services.span_list.sessions(
        principal.project_id, since, to, exact=exact, limit=limit, cursor=cursor))
    return JSONResponse(jsonable_encoder(result))


@router.get("/api/traces/{trace_id}", summary="A trace: its rollup and its spans, without inputs/outputs",
            responses={**ok(TraceDetail), **errors((404, "No trace with this id in the caller's project"))})
async def get_trace(trace_id: Annotated[str, Path(pattern=TRACE_ID_PATTERN, description=TRACE_ID)],
                    services: ServicesDep, principal: PrincipalDep,
                    limit: Annotated[int, Query(ge=1, le=20_000, description="spans per response")] = 5000,
                    offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    result: dict[str, Any] = await run_in_threadpool(
        lambda: services.traces.get(principal.project_id, trace_id, limit=limit, offset=offset))
    # Plain types only (times are strings already): json.dumps is several times faster than jsonable_encoder.
    return Response(json.dumps(result, default=str), media_type="application/json")


@router.get("/api/traces/{trace_id}/spans/{span_id}/payload", summary="A span's input, output and payload attributes "
            "(empty when the span has none)")
async def get_span_payload(trace_id: Annotated[str, Path(pattern=TRACE_ID_PATTERN, description=TRACE_ID)],
                           span_id: Annotated[str, Path(pattern=SPAN_ID_PATTERN, description="16 hex characters")],
                           services: ServicesDep, principal: PrincipalDep) -> SpanPayload:
    payload: dict[str, Any] = await run_in_threadpool(services.traces.payload, principal.project_id, trace_id,
                                                      span_id)
    return SpanPayload(**payload)
