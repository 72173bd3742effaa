"""One trace: summary and light span tree; a span's payload fetched separately, so big traces open fast."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from neon_server.api.deps import PrincipalDep, ServicesDep

router = APIRouter(tags=["traces"])


@router.get("/api/traces/{trace_id}", summary="A trace: its rollup and its spans, without inputs/outputs")
async def get_trace(trace_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONResponse:
    result: dict[str, Any] = await run_in_threadpool(services.traces.get, principal.project_id, trace_id)
    return JSONResponse(jsonable_encoder(result))


@router.get("/api/traces/{trace_id}/spans/{span_id}/payload", summary="A span's input, output and payload attributes")
async def get_span_payload(trace_id: str, span_id: str, services: ServicesDep,
                           principal: PrincipalDep) -> dict[str, Any]:
    payload: dict[str, Any] = await run_in_threadpool(services.traces.payload, principal.project_id, trace_id,
                                                      span_id)
    return payload
