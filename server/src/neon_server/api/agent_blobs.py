"""Agent blobs (conversation messages and tool results of agent runs) by content address.

    PUT  /api/agent-blobs/{ref}   one value, which must hash to ref          → {ref, created}
    POST /api/agent-blobs         [value, …]                                 → {refs: […]}
    GET  /api/agent-blobs/{ref}   the value
    POST /api/agent-blobs/get     [ref, …]                                   → {values: […]}, in order

An API key or a run token of the project (workers write and read blobs with the run token).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from neon_server.api.bodies import read_body
from neon_server.api.deps import KeyOrRunTokenDep, ServicesDep
from neon_server.services.agent_blobs import MAX_REFS, parse_json
from neon_server.services.errors import InvalidInput

router = APIRouter(tags=["agent blobs"])

REF_DOC = "`sha256:` and the 64 hex digits of the SHA-256 of the value's canonical JSON (sorted keys, no spaces)"
REF_PATTERN = r"^sha256:[0-9a-f]{64}$"
Ref = Annotated[str, Path(description=REF_DOC, pattern=REF_PATTERN)]
ANY_JSON: dict[str, Any] = {"content": {"application/json": {"schema": {}}}}
ERRORS: dict[int | str, dict[str, Any]] = {401: {}, 403: {}, 404: {}, 413: {}, 422: {}}
BODY_ERRORS: dict[int | str, dict[str, Any]] = {400: {}, **ERRORS}  # a body that is not UTF-8 JSON


class BlobStored(BaseModel):
    ref: str = Field(description=REF_DOC)
    created: bool = Field(description="false when the blob was already stored (nothing was written)")


class BlobRefs(BaseModel):
    refs: list[str] = Field(description="the refs of the values sent, in order")


class BlobValues(BaseModel):
    values: list[Any] = Field(description="the values of the refs asked for, in order")


async def _json_body(request: Request, services: ServicesDep) -> Any:
    limit = services.agent_blobs.max_batch_bytes
    setting = "NEON_AGENT_BLOB_MAX_BATCH_BYTES"
    return parse_json(await read_body(request, limit, limit, setting=setting, decompressed_setting=setting))


@router.put("/api/agent-blobs/{ref}", summary="Store one agent blob under its content address",
            response_model=BlobStored, status_code=201, responses={200: {"model": BlobStored}, **BODY_ERRORS},
            openapi_extra={"requestBody": {"required": True, **ANY_JSON}})
async def put_blob(ref: Ref, request: Request, services: ServicesDep, principal: KeyOrRunTokenDep) -> JSONResponse:
    value = await _json_body(request, services)
    created = await run_in_threadpool(services.agent_blobs.put, principal.project_id, ref, value)
    return JSONResponse(BlobStored(ref=ref, created=created).model_dump(), status_code=201 if created else 200)


@router.post("/api/agent-blobs", summary="Store several agent blobs; answers their refs in order",
             response_model=BlobRefs, responses=BODY_ERRORS,
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"type": "array", "items": {}}}}}})
async def put_blobs(request: Request, services: ServicesDep, principal: KeyOrRunTokenDep) -> BlobRefs:
    values = await _json_body(request, services)
    if not isinstance(values, list):
        raise InvalidInput("the body must be a JSON list of the values to store")
    refs = await run_in_threadpool(services.agent_blobs.put_many, principal.project_id, values)
    return BlobRefs(refs=refs)


@router.get("/api/agent-blobs/{ref}", summary="One agent blob's value", response_class=Response,
            responses={200: ANY_JSON, **ERRORS})
async def get_blob(ref: Ref, services: ServicesDep, principal: KeyOrRunTokenDep) -> Response:
    data = await run_in_threadpool(services.agent_blobs.get, principal.project_id, ref)
    return Response(data, media_type="application/json")


@router.post("/api/agent-blobs/get", summary="Several agent blobs' values, in the order of the refs",
             response_model=BlobValues, responses=BODY_ERRORS)
async def get_blobs(refs: Annotated[list[Annotated[str, StringConstraints(pattern=REF_PATTERN)]],
                                    Body(max_length=MAX_REFS, description=REF_DOC)],
                    services: ServicesDep, principal: KeyOrRunTokenDep) -> Response:
    blobs = await run_in_threadpool(services.agent_blobs.get_many, principal.project_id, refs)
    # The stored bytes are canonical JSON already: splice them rather than parse and re-encode them.
    return Response(b'{"values":[' + b",".join(blobs) + b"]}", media_type="application/json")
