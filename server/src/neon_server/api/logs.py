"""Log records of the caller's project (from `POST /v1/logs`): by trace, span, text, severity and time."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.params import CURSOR, OPTIONAL_SPAN_ID_PATTERN, TRACE_ID_PATTERN, Time
from neon_server.api.schemas import ok
from neon_server.domain.time_range import within_store_range
from neon_server.storage.analytics.logs import LogFilter

router = APIRouter(tags=["logs"])


class LogRecord(BaseModel):
    record_id: str
    trace_id: str = Field(description="'' for a record outside any trace")
    span_id: str
    time: str
    observed_time: str
    severity_number: int = Field(description="OTLP severity: 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, "
                                             "17-20 ERROR, 21-24 FATAL, 0 unspecified")
    severity_text: str
    body: str = Field(description="a string body as sent; a structured body as JSON text")
    body_type: str = Field(description="'string', 'json', or '' (no body)")
    event_name: str
    attributes: dict[str, str]
    resource_attributes: dict[str, str]
    service: str
    scope: str
    truncated: bool


class LogPage(BaseModel):
    logs: list[LogRecord]
    next_cursor: str | None


@router.get("/api/logs", summary="Log records of the caller's project, filtered, newest first, paginated",
            responses=ok(LogPage))
async def list_logs(
    services: ServicesDep, principal: PrincipalDep,
    trace_id: Annotated[str | None, Query(pattern=TRACE_ID_PATTERN)] = None,
    span_id: Annotated[str | None, Query(pattern=OPTIONAL_SPAN_ID_PATTERN, description=(
        "empty: the records of the trace that belong to no span"))] = None,
    text: Annotated[str | None, Query(min_length=1, max_length=500,
                                      description="in the body or an attribute value, case-insensitive")] = None,
    min_severity: Annotated[int | None, Query(ge=0, le=24, description="severity_number at least this")] = None,
    severity_text: str | None = None, event_name: str | None = None,
    start: Annotated[Time | None, Query(alias="from", description="start of the range (inclusive)")] = None,
    end: Annotated[Time | None, Query(alias="to", description="end of the range (exclusive)")] = None,
    order: Annotated[Literal["asc", "desc"], Query(description="by time")] = "desc",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description=CURSOR)] = None,
) -> JSONResponse:
    flt = LogFilter(start=within_store_range(start) if start else None, end=within_store_range(end) if end else None,
                    trace_id=trace_id.lower().replace("-", "") if trace_id else None,
                    span_id=span_id.lower() if span_id is not None else None, text=text, min_severity=min_severity,
                    severity_text=severity_text, event_name=event_name, limit=limit, descending=order == "desc")
    result = await run_in_threadpool(services.logs.search, principal.project_id, flt, cursor)
    return JSONResponse(jsonable_encoder(result))
