"""The read routes neptune-query calls: runs search, attribute definitions and values, series points.

Bodies are JSON; answers are raw protobuf (`application/x-protobuf`), except attribute definitions (JSON).
Errors are JSON with Neptune's `errorType` beside Neon's usual `error` object: 403 `ACCESS_DENIED` when the
project is not the caller's (neptune-query: NeptuneProjectInaccessible), 429 with Retry-After when too many
reads run at once (the client waits and retries), other 4xx with a message saying what was wrong (fatal for
the client, which shows the message).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from google.protobuf.message import Message
from starlette.concurrency import run_in_threadpool

from neon_server.api.deps import ServicesDep
from neon_server.api.neptune_read.read_auth import ReadPrincipal
from neon_server.domain import neptune_read as body
from neon_server.services.errors import BodyTooLarge, ServiceError
from neon_server.services.neptune_read import NeptuneRead, ProjectInaccessible, TooBusy

router = APIRouter(include_in_schema=False)
PROTOBUF = "application/x-protobuf"
MAX_BUCKETS_BODY = 4 * 2**20  # 1,000 series with their formulas take a few hundred kilobytes
ProjectIdentifier = Annotated[str, Query(alias="projectIdentifier", max_length=512)]
_ERROR_TYPES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
                422: "VALIDATION_ERROR", 429: "TOO_MANY_REQUESTS", 503: "SERVICE_UNAVAILABLE"}


def neptune_error(exc: ServiceError) -> JSONResponse:
    error_type = "ACCESS_DENIED" if isinstance(exc, ProjectInaccessible) else _ERROR_TYPES.get(
        exc.status_code, "ERROR")
    headers = {"Retry-After": str(TooBusy.retry_after)} if isinstance(exc, TooBusy) else None
    return JSONResponse({"code": exc.status_code, "errorType": error_type, "message": exc.message,
                         "error": {"code": exc.code, "message": exc.message, **exc.details}},
                        status_code=exc.status_code, headers=headers)


async def _answer(read: NeptuneRead, work: Callable[[], Any]) -> Response:
    try:
        async with read.slot():
            result = await run_in_threadpool(work)
    except ServiceError as exc:
        return neptune_error(exc)
    if isinstance(result, Message):
        return Response(result.SerializeToString(), media_type=PROTOBUF)
    return JSONResponse(result)


@router.post("/api/leaderboard/v1/proto/leaderboard/entries/search/")
async def search_entries(request: body.SearchBody, services: ServicesDep, principal: ReadPrincipal,
                         project: ProjectIdentifier) -> Response:
    read = services.neptune_read

    def work() -> Any:
        workspace = read.check_project(principal.project_id, project)
        return read.search(principal.project_id, workspace, request)

    return await _answer(read, work)


@router.post("/api/leaderboard/v1/proto/leaderboard/entries/global/search/")
async def search_global(request: body.SearchBody, services: ServicesDep, principal: ReadPrincipal) -> Response:
    """Search across the projects the caller can read: with a Neon API key, its project."""
    read = services.neptune_read
    return await _answer(read, lambda: read.search(principal.project_id, "neon", request, identity=True))


@router.post("/api/leaderboard/v1/leaderboard/attributes/definitions/query")
async def attribute_definitions(request: body.DefinitionsBody, services: ServicesDep,
                                principal: ReadPrincipal) -> Response:
    read = services.neptune_read
    return await _answer(read, lambda: read.definitions(principal.project_id, request))


@router.post("/api/leaderboard/v1/proto/leaderboard/attributes/query")
async def attribute_values(request: body.AttributesBody, services: ServicesDep, principal: ReadPrincipal,
                           project: ProjectIdentifier) -> Response:
    read = services.neptune_read

    def work() -> Any:
        read.check_project(principal.project_id, project)
        return read.attribute_values(principal.project_id, request)

    return await _answer(read, work)


@router.post("/api/leaderboard/v1/proto/attributes/series/float")
async def float_series(request: body.PointsBody, services: ServicesDep, principal: ReadPrincipal) -> Response:
    read = services.neptune_read
    return await _answer(read, lambda: read.series.floats(principal.project_id, request))


@router.post("/api/leaderboard/v1/proto/attributes/series")
async def series(request: body.PointsBody, services: ServicesDep, principal: ReadPrincipal) -> Response:
    read = services.neptune_read
    return await _answer(read, lambda: read.series.objects(principal.project_id, request))


@router.post("/api/leaderboard/v1/proto/attributes/timeseries/buckets")
async def buckets(http: Request, services: ServicesDep, principal: ReadPrincipal) -> Response:
    """The body is protobuf (`ProtoGetTimeseriesBucketsRequest`), not JSON."""
    read = services.neptune_read
    payload = await http.body()
    if len(payload) > MAX_BUCKETS_BODY:
        return neptune_error(BodyTooLarge(f"the body is over {MAX_BUCKETS_BODY} bytes"))
    return await _answer(read, lambda: read.buckets.buckets(principal.project_id, payload))
