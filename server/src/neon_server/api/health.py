from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from neon_server import __version__
from neon_server.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/api/health", summary="Server and dependency health (no key needed)")
async def health(services: ServicesDep) -> JSONResponse:
    report: dict[str, Any] = await run_in_threadpool(services.health)
    report["version"] = __version__
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)
