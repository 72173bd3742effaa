"""What every Neptune route needs: the caller's project from its access token, and Neon's URL as the client
reaches it (it goes into the tokens' issuer and the file URLs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from neon_server.api.deps import get_services
from neon_server.domain.projects import Principal
from neon_server.services.errors import Unauthorized


async def base_url(request: Request) -> str:
    public = get_services(request).settings.public_url
    return (public or str(request.base_url)).rstrip("/")


async def neptune_principal(request: Request) -> Principal:
    """The project of the `Authorization: Bearer <access token>` Neon issued (401 when missing or invalid)."""
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing Neptune access token: send 'Authorization: Bearer <token>' (neptune-scale "
                           "gets one from GET /api/backend/v1/authorization/oauth-token)")
    return get_services(request).neptune_tokens.verify(token.strip())


NeptunePrincipal = Annotated[Principal, Depends(neptune_principal)]
BaseUrl = Annotated[str, Depends(base_url)]
