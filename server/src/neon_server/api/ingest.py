"""Native JSON ingest for clients without OpenTelemetry: `POST /api/traces/ingest` (format: docs/ingest.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from neon_server.api.bodies import read_body
from neon_server.api.deps import KeyOrRunTokenDep, ServicesDep
from neon_server.api.errors import RETRY_AFTER, error_response, errors
from neon_server.api.ingest_errors import ingest_failure
from neon_server.api.ingest_schemas import native_request_body
from neon_server.services.errors import UnsupportedMediaType

router = APIRouter(tags=["ingest"])


class IngestAnswer(BaseModel):
    accepted_spans: int
    rejected_spans: int
    errors: str
    duplicate: bool
    trace_ids: list[str]


@router.post("/api/traces/ingest", summary="Ingest traces as Neon's native JSON", response_model=IngestAnswer,
             openapi_extra=native_request_body(),
             responses={
                 200: {"description": "Something was written; the answer counts what was refused, and why"},
                 400: {"description": "Nothing could be used (the answer says why), or the body is not JSON of "
                                      "this shape (an error)",
                       "content": {"application/json": {"schema": {"anyOf": [
                           {"$ref": "#/components/schemas/IngestAnswer"},
                           {"$ref": "#/components/schemas/ErrorBody"}]}}}},
                 **errors(413, 415, 429),
                 503: {**errors(503)[503], "headers": RETRY_AFTER,
                       "description": "The store cannot write right now, or the server is stopping; retry after "
                                      "Retry-After seconds"}})
async def ingest_native(request: Request, services: ServicesDep, principal: KeyOrRunTokenDep) -> JSONResponse:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaType(f"unsupported Content-Type {media or '(none)'!r}: send application/json")
    settings = services.settings
    body = await read_body(request, settings.ingest_max_body_bytes, settings.ingest_max_decompressed_bytes)
    try:
        result = await services.ingest.native(principal.project_id, body)
    except Exception as exc:
        failure = ingest_failure(exc, "native ingest")
        return error_response(failure.status, failure.code, failure.message, failure.headers())
    answer = IngestAnswer(accepted_spans=result.accepted, rejected_spans=result.rejected, errors=result.message,
                          duplicate=result.duplicate, trace_ids=result.trace_ids)
    status = 200 if result.accepted or result.duplicate or not result.rejected else 400
    return JSONResponse(answer.model_dump(), status_code=status)
