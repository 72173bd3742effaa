"""Neptune's file uploads and downloads, stored by Neon (`storage/track_files.py`).

`POST /api/storagebridge/v1/signedUrl` answers, for each file, a URL back to Neon as S3 would (`provider: "aws"`):
signed, expiring and scoped to the project and path (services/neptune_files.py). The client PUTs the bytes there
and needs an `ETag` in the answer; a file over `NEON_NEPTUNE_FILE_PART_BYTES` gets one URL per part and is
joined by `POST /api/storagebridge/v1/s3/completeMultipartUpload`. neptune-query downloads with
`permission: "read"` and a GET of the URL.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from neon_server.api.deps import ServicesDep
from neon_server.api.neptune.deps import BaseUrl, NeptunePrincipal
from neon_server.services.errors import BadBody, BodyTooLarge, Forbidden, NotFound
from neon_server.services.neptune_files import FILE_ROUTE
from neon_server.services.neptune_ingest import project_problem
from neon_server.storage.track_files import BadKey

router = APIRouter(include_in_schema=False)
MAX_FILE_BYTES = 5 * 2**30  # one PUT, as S3 allows
MAX_FILES = 1000


class FileToSign(BaseModel):
    path: str = Field(max_length=4096)
    permission: str = "write"
    project_identifier: str = Field(max_length=1024)
    size: int | None = None


class SignRequest(BaseModel):
    files: list[FileToSign] = Field(max_length=MAX_FILES)


class PartDone(BaseModel):
    part_number: int
    etag: str


class CompleteRequest(BaseModel):
    upload_id: str
    project_identifier: str
    path: str
    parts: list[PartDone]


async def _check_project(services: ServicesDep, project_id: str, neptune_project: str) -> None:
    problem = project_problem(neptune_project, await services.neptune_ingest.project_name(project_id))
    if problem is not None:
        raise Forbidden(problem[1])


@router.post("/api/storagebridge/v1/signedUrl")
async def signed_urls(body: SignRequest, services: ServicesDep, principal: NeptunePrincipal,
                      base: BaseUrl) -> dict[str, Any]:
    """One answer per requested file, in order (neptune-scale matches by path, neptune-query by position)."""
    answered = []
    for item in body.files:
        await _check_project(services, principal.project_id, item.project_identifier)
        if item.permission not in ("read", "write"):
            raise BadBody(f"permission must be read or write, not {item.permission!r}")
        signed = services.neptune_files.sign(base, principal.project_id, item.path, item.permission, item.size)
        multipart = {"upload_id": signed.upload_id, "part_size": signed.part_size,
                     "part_urls": list(signed.part_urls)} if signed.upload_id else None
        answered.append({"path": item.path, "project_identifier": item.project_identifier, "provider": "aws",
                         "url": signed.url, "multipart": multipart})
    return {"files": answered}


@router.put(FILE_ROUTE)
async def put_file(request: Request, services: ServicesDep) -> Response:
    """The bytes of a file (or of one part), durable before the answer; the answer carries its ETag."""
    grant = services.neptune_files.verify(dict(request.query_params))
    if grant.permission != "write":
        raise Forbidden("this URL is for reading the file, not writing it")
    store = services.neptune_files.store
    try:
        if grant.upload_id:
            pending = await asyncio.to_thread(store.begin_part, grant.project_id, grant.upload_id, grant.part)
        else:
            pending = await asyncio.to_thread(store.begin, grant.project_id, grant.path)
    except BadKey as exc:
        raise BadBody(str(exc)) from None
    try:
        async for chunk in request.stream():
            if pending.size + len(chunk) > MAX_FILE_BYTES:
                raise BodyTooLarge(f"a file or part is at most {MAX_FILE_BYTES} bytes")
            await asyncio.to_thread(pending.write, chunk)
        etag = await asyncio.to_thread(pending.commit)
    except BaseException:
        await asyncio.to_thread(pending.abort)
        raise
    return Response(status_code=200, headers={"ETag": f'"{etag}"'})


@router.get(FILE_ROUTE)
async def get_file(request: Request, services: ServicesDep) -> Response:
    grant = services.neptune_files.verify(dict(request.query_params))
    try:
        path = services.neptune_files.store.find(grant.project_id, grant.path)
    except BadKey as exc:
        raise BadBody(str(exc)) from None
    if path is None:
        raise NotFound(f"no file {grant.path!r} in this project")
    return FileResponse(path)


@router.post("/api/storagebridge/v1/s3/completeMultipartUpload")
async def complete_multipart(body: CompleteRequest, services: ServicesDep,
                             principal: NeptunePrincipal) -> JSONResponse:
    await _check_project(services, principal.project_id, body.project_identifier)
    parts = sorted(body.parts, key=lambda p: p.part_number)
    if [p.part_number for p in parts] != list(range(1, len(parts) + 1)):
        raise BadBody("parts must be numbered 1..n without gaps")
    try:
        etag = await asyncio.to_thread(services.neptune_files.store.complete, principal.project_id, body.path,
                                       body.upload_id, [p.etag for p in parts])
    except BadKey as exc:
        raise BadBody(str(exc)) from None
    return JSONResponse({"etag": etag})
