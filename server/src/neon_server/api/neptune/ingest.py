"""Neptune ingest: `POST /api/client/v1/ingest` (a protobuf RunOperation) and `/ingest/check` (statuses).

neptune-scale retries every answer but 200 and 403 forever, and stops on 403. So data problems never become HTTP
errors: they travel as IngestCodes in the request's status. HTTP errors are kept for what a retry can fix: 401
(a token that expired or that another secret signed; the client refreshes it) and 429/503 (Neon is busy or
stopping). A body Neon cannot read at all is answered with RUN_INVALID_CREATION_PARAMETERS, which stops the client
with its operations kept in its local log, instead of an error it would retry forever.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response
from google.protobuf.message import DecodeError
from neptune_api.proto.neptune_pb.ingest.v1.pub import client_pb2

from neon_server.api.bodies import read_body
from neon_server.api.deps import ServicesDep
from neon_server.api.errors import error_response
from neon_server.api.ingest_errors import ingest_failure
from neon_server.api.neptune.deps import NeptunePrincipal
from neon_server.services.errors import BadBody, BodyTooLarge, UnsupportedMediaType
from neon_server.services.neptune_ingest import UNREADABLE

router = APIRouter(include_in_schema=False)
log = logging.getLogger("neon.neptune")
PROTOBUF = "application/x-protobuf"
MAX_CHECK_BODY = 1 << 20  # ≤ 1000 ids of a few hundred bytes


@router.post("/api/client/v1/ingest")
async def submit(request: Request, services: ServicesDep, principal: NeptunePrincipal) -> Response:
    settings = services.settings
    ingest = services.neptune_ingest
    try:
        body = await read_body(request, settings.ingest_max_body_bytes, settings.ingest_max_decompressed_bytes)
    except (BodyTooLarge, BadBody, UnsupportedMediaType) as exc:
        answer = ingest.refuse(principal.project_id, UNREADABLE, exc.message)
    else:
        try:
            answer = await ingest.submit(principal.project_id, body)
        except Exception as exc:
            failure = ingest_failure(exc, "Neptune ingest")
            return error_response(failure.status, failure.code, failure.message, failure.headers())
    reply = client_pb2.SubmitResponse(request_id=answer.request_id, request_ids=[answer.request_id])
    return Response(reply.SerializeToString(), media_type=PROTOBUF)


@router.post("/api/client/v1/ingest/check")
async def check(request: Request, services: ServicesDep, principal: NeptunePrincipal) -> Response:
    body = await read_body(request, MAX_CHECK_BODY, MAX_CHECK_BODY)
    try:
        ids = client_pb2.RequestIdList.FromString(body)
    except DecodeError as exc:
        raise BadBody(f"body is not a protobuf RequestIdList: {exc}") from None
    statuses = services.neptune_ingest.check(principal.project_id, (i.value for i in ids.ids))
    return Response(client_pb2.BulkRequestStatus(statuses=statuses).SerializeToString(), media_type=PROTOBUF)
