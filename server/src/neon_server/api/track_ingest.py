"""Native Track ingest, what `neon.track` speaks (format: track/native_format.py, docs/track-sdk.md):

    POST /api/track/runs            create (or resume) a run: JSON                       → {run_id, short_id, code}
    POST /api/track/ingest          one run's writes, `application/vnd.neon.track`, gzip optional → Outcome
    PUT  /api/track/files/{key}     the bytes of a logged file                           → {key, size_bytes, sha256}
    GET  /api/track/files/{key}     them back

Authenticated with the project's API key. An ingest is answered once what it wrote is durable; a full writer
answers 429 with Retry-After. Writing is idempotent (a re-logged step replaces its point), so a client may resend.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from neon_server.api.bodies import read_body
from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.errors import RETRY_AFTER, error_response, errors
from neon_server.api.ingest_errors import ingest_failure
from neon_server.domain.track import ForkPoint, Outcome, RunCreate, TrackCode
from neon_server.services.errors import NotFound, UnsupportedMediaType
from neon_server.services.track_uploads import KEY_PATTERN, KEY_RULE, MAX_KEY_CHARS
from neon_server.track.columns import MAX_DATETIME_MS
from neon_server.track.native_format import MEDIA_TYPE, FormatError, decode

router = APIRouter(tags=["track"])

NOT_FOUND_CODES = (TrackCode.RUN_NOT_FOUND, TrackCode.RUN_FORK_PARENT_NOT_FOUND, TrackCode.PROJECT_NOT_FOUND)


RUN_ID = r"^[^\x00-\x1f/]{1,730}$"


class TrackForkIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    run_id: str = Field(pattern=RUN_ID, description="the parent run")
    step: float = Field(ge=0, le=1e15, allow_inf_nan=False, description="the step the new run forks at")


class TrackRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    run_id: str = Field(pattern=RUN_ID, description="the caller's run id: 1–730 printable characters, no '/'")
    experiment_name: str = Field(default="", max_length=730)
    fork: TrackForkIn | None = Field(default=None, description="fork from this run at this step")
    creation_time_ms: float | None = Field(default=None, ge=0, le=MAX_DATETIME_MS, allow_inf_nan=False,
                                           description="epoch milliseconds; default now")
    resume: StrictBool = Field(default=False, description="continue an existing run: 404 when there is none")


class TrackRunOut(BaseModel):
    run_id: str
    short_id: str
    code: str = Field(description="OK (created) or RUN_DUPLICATE (it existed with the same lineage)")
    message: str


class TrackRejectionOut(BaseModel):
    code: str = Field(description="why, as a TrackCode name (SERIES_STEP_INVALID, FIELD_PATH_NON_WRITABLE, …)")
    count: int
    message: str


class TrackOutcomeOut(BaseModel):
    code: str
    accepted: int = Field(description="attributes, tag changes and points written")
    rejections: list[TrackRejectionOut]


class TrackFileOut(BaseModel):
    key: str
    size_bytes: int
    sha256: str


def _refusal(outcome: Outcome) -> JSONResponse:
    status = 404 if outcome.code in NOT_FOUND_CODES else 409 if outcome.code == TrackCode.RUN_CONFLICTING else 422
    kind = {404: "not_found", 409: "conflict"}.get(status, "invalid_input")
    return error_response(status, kind, outcome.message, track_code=outcome.code.name)


@router.post("/api/track/runs", summary="Create or resume a Track run", response_model=TrackRunOut, status_code=201,
             responses={200: {"model": TrackRunOut, "description": "The run existed with the same lineage"},
                        **errors((404, "The fork parent, or the run to resume, does not exist"),
                                 (409, "The run exists with another fork parent or step"))})
async def create_run(body: TrackRunIn, services: ServicesDep, principal: PrincipalDep) -> JSONResponse:
    project_id = principal.project_id
    if body.resume:
        try:
            run = await asyncio.to_thread(services.track.run, project_id, body.run_id)
        except NotFound:
            return error_response(404, "not_found", f"run {body.run_id!r} does not exist: it cannot be resumed",
                                  track_code=TrackCode.RUN_NOT_FOUND.name)
        return JSONResponse(TrackRunOut(run_id=run.run_id, short_id=run.short_id, code="RUN_DUPLICATE",
                                   message="resumed").model_dump())
    fork = ForkPoint(body.fork.run_id, body.fork.step) if body.fork is not None else None
    created_at = datetime.fromtimestamp(body.creation_time_ms / 1000, UTC) if body.creation_time_ms else None
    outcome, stored = await services.track.create_run(
        project_id, RunCreate(body.run_id, experiment_name=body.experiment_name, creation_time=created_at, fork=fork))
    if stored is None or outcome.code not in (TrackCode.OK, TrackCode.RUN_DUPLICATE):
        return _refusal(outcome)
    return JSONResponse(TrackRunOut(run_id=stored.run_id, short_id=stored.short_id, code=outcome.code.name,
                               message=outcome.message).model_dump(), status_code=201 if outcome.ok else 200)


@router.post("/api/track/ingest", summary="Write one run's metrics, configs, tags, series and file references",
             response_model=TrackOutcomeOut,
             openapi_extra={"requestBody": {"required": True, "content": {MEDIA_TYPE: {"schema": {
                 "type": "string", "format": "binary",
                 "description": "the native Track body (docs/track-sdk.md), gzip allowed"}}}}},
             responses={**errors((400, "The body is not a native Track body (the message says what is wrong)"),
                                 (404, "The run does not exist: create it first"), 413, 415),
                        429: {**errors(429)[429], "headers": RETRY_AFTER},
                        503: {**errors(503)[503], "headers": RETRY_AFTER}})
async def ingest(request: Request, services: ServicesDep, principal: PrincipalDep) -> JSONResponse:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != MEDIA_TYPE:
        raise UnsupportedMediaType(f"unsupported Content-Type {media or '(none)'!r}: send {MEDIA_TYPE}")
    settings = services.settings
    body = await read_body(request, settings.ingest_max_body_bytes, settings.ingest_max_decompressed_bytes)
    try:
        writes = decode(body)
    except FormatError as exc:
        return error_response(400, "bad_request", f"not a valid {MEDIA_TYPE} body: {exc}")
    try:
        outcome = await services.track.write(principal.project_id, writes)
    except Exception as exc:
        failure = ingest_failure(exc, "track ingest")
        return error_response(failure.status, failure.code, failure.message, failure.headers())
    if not outcome.ok:
        return _refusal(outcome)
    rejections = [TrackRejectionOut(code=r.code.name, count=r.count, message=r.message) for r in outcome.rejections]
    return JSONResponse(TrackOutcomeOut(code=outcome.code.name, accepted=outcome.accepted,
                                        rejections=rejections).model_dump())


Key = Annotated[str, Path(description=KEY_RULE, pattern=KEY_PATTERN, max_length=MAX_KEY_CHARS)]


@router.put("/api/track/files/{key:path}", summary="Store the bytes of a logged file", response_model=TrackFileOut,
            status_code=201, responses=errors(413, (409, "The key is a folder of other keys, or inside a file's key")),
            openapi_extra={"requestBody": {"required": False, "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}}})
async def put_file(key: Key, request: Request, services: ServicesDep, principal: PrincipalDep) -> JSONResponse:
    stored = await services.track_uploads.store(principal.project_id, key, request.stream())
    return JSONResponse(TrackFileOut(key=stored.key, size_bytes=stored.size_bytes, sha256=stored.sha256).model_dump(),
                        status_code=201)


@router.get("/api/track/files/{key:path}", summary="Read the bytes of a logged file",
            responses={200: {"content": {"application/octet-stream": {}}}, **errors(404)})
async def get_file(key: Key, services: ServicesDep, principal: PrincipalDep) -> Response:
    data: Any = await asyncio.to_thread(services.track_uploads.read, principal.project_id, key)
    return Response(data, media_type="application/octet-stream")
