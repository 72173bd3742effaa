"""OTLP/HTTP receivers: `POST /v1/traces` and `POST /v1/logs`, protobuf or JSON, optionally gzip, as the OTLP
spec says.

Answers: 200 with ExportTraceServiceResponse / ExportLogsServiceResponse (partial_success when some spans or log
records were rejected); 400 for a
body that cannot be decoded; 413 too large; 415 wrong content type; 429 with Retry-After when the write
buffer is full; 503 with Retry-After when the store cannot write. Error bodies are google.rpc.Status in the
request's encoding.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from google.rpc.status_pb2 import Status

from neon_server.api.bodies import read_body
from neon_server.api.deps import KeyOrRunTokenDep, ServicesDep
from neon_server.api.ingest_errors import ingest_failure
from neon_server.api.ingest_schemas import JSON, PROTOBUF, otlp_request_body, otlp_responses
from neon_server.ingest.otlp import encode_response_json, encode_response_protobuf
from neon_server.ingest.otlp_logs import encode_logs_response_json, encode_logs_response_protobuf
from neon_server.services.errors import UnsupportedMediaType
from neon_server.settings import Settings

router = APIRouter(tags=["ingest"])


def _media_type(request: Request) -> str:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in (PROTOBUF, "application/protobuf"):
        return PROTOBUF
    if media == JSON:
        return JSON
    raise UnsupportedMediaType(f"unsupported Content-Type {media or '(none)'!r}: send {PROTOBUF} or {JSON}")


def _error(media: str, status: int, message: str, retry_after: float | None = None) -> Response:
    headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else None
    if media == PROTOBUF:
        body = Status(code=status, message=message).SerializeToString()
    else:
        body = json.dumps({"code": status, "message": message}).encode()
    return Response(body, status_code=status, media_type=media, headers=headers)


@router.post("/v1/traces", summary="OTLP/HTTP trace export (protobuf or JSON, gzip)",
             response_class=Response, responses=otlp_responses(), openapi_extra=otlp_request_body())
async def export_traces(request: Request, services: ServicesDep, principal: KeyOrRunTokenDep) -> Response:
    return await _export(request, services.settings, lambda body, json_body: services.ingest.otlp(
        principal.project_id, body, json_body=json_body), "OTLP export", "spans",
        encode_response_protobuf, encode_response_json)


@router.post("/v1/logs", summary="OTLP/HTTP log export (protobuf or JSON, gzip)",
             response_class=Response, responses=otlp_responses(logs=True), openapi_extra=otlp_request_body(logs=True))
async def export_logs(request: Request, services: ServicesDep, principal: KeyOrRunTokenDep) -> Response:
    """Log records are stored and searchable (`GET /api/logs`); GenAI prompt/completion events show as their
    span's input and output."""
    return await _export(request, services.settings, lambda body, json_body: services.log_ingest.otlp(
        principal.project_id, body, json_body=json_body), "OTLP log export", "log records",
        encode_logs_response_protobuf, encode_logs_response_json)


async def _export(request: Request, settings: Settings, ingest: Callable[[bytes, bool], Awaitable[Any]],
                  what: str, items: str, encode_protobuf: Callable[[int, str], bytes],
                  encode_json: Callable[[int, str], bytes]) -> Response:
    """Read an OTLP export's body (limits, gzip), hand it to `ingest`, answer with its partial success or the
    failure, in the request's encoding."""
    try:
        media = _media_type(request)
    except UnsupportedMediaType as exc:
        return _error(JSON, exc.status_code, exc.message)
    try:
        body = await read_body(request, settings.ingest_max_body_bytes, settings.ingest_max_decompressed_bytes)
        result = await ingest(body, media == JSON)
    except Exception as exc:
        failure = ingest_failure(exc, what, items)
        return _error(media, failure.status, failure.message, failure.retry_after)
    if media == PROTOBUF:
        return Response(encode_protobuf(result.rejected, result.message), media_type=PROTOBUF)
    return Response(encode_json(result.rejected, result.message), media_type=JSON)
