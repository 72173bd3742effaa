"""Who is reading: the one dependency every read route takes for the caller's project.

Accepted credentials: `Authorization: Bearer <Neon API key>`, or a Neptune access token (a JWT Neon signed,
from `GET /api/backend/v1/authorization/oauth-token`, served by `api/neptune/`), which is what neptune-query sends.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from neon_server.api.deps import api_key_from, get_services, require_principal
from neon_server.domain.projects import Principal
from neon_server.services.errors import Unauthorized

MISSING = ("missing credentials: send 'Authorization: Bearer <access token>' (neptune-query gets one from "
           "NEPTUNE_API_TOKEN) or 'Authorization: Bearer <Neon API key>'")


async def read_principal(request: Request) -> Principal:
    """The caller's project (401 when the credential is missing or invalid)."""
    raw = api_key_from(request.headers)
    if not raw:
        raise Unauthorized(MISSING)
    if raw.count(".") == 2:  # a JWT: Neon's Neptune access token (services/neptune_tokens.py)
        return get_services(request).neptune_tokens.verify(raw)
    return await require_principal(request, raw)


ReadPrincipal = Annotated[Principal, Depends(read_principal)]
