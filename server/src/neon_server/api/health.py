from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from neon_server import __version__
from neon_server.api.deps import ServicesDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="ok only when every dependency is")
    version: str
    dependencies: dict[str, dict[str, Any]] = Field(description="analytics and metadata stores: status, backend, "
                                                                "latency_ms or error")
    ingest: dict[str, int | float | None] = Field(
        description="write buffer and batch counters; queryable_p50_ms / queryable_p99_ms: from an OTLP protobuf "
                    "request's arrival to its spans being queryable, over the latest 10,000 requests")
    track: dict[str, int] = Field(description="Track's write buffer and batch counters")
    online_scoring: dict[str, Any]


@router.get("/api/health", summary="Server and dependency health (no key needed)",
            responses={200: {"model": Health}, 503: {"model": Health, "description": "A store cannot be reached"}})
async def health(services: ServicesDep) -> JSONResponse:
    report: dict[str, Any] = await run_in_threadpool(services.health)
    report["version"] = __version__
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)
