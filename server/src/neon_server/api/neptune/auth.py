"""Neptune's sign-in: client config, OpenID discovery, the API-key exchange and token refresh.

`NEPTUNE_API_TOKEN` is base64 JSON `{"api_address", "api_url", "api_key"}` whose `api_key` is a Neon API key
(`neon neptune token` prints one). The exchange answers JWTs signed by Neon (services/neptune_tokens.py).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from neon_server.api.deps import ServicesDep
from neon_server.api.errors import error_response
from neon_server.api.neptune.deps import BaseUrl
from neon_server.services.errors import Unauthorized
from neon_server.services.neptune_tokens import CLIENT_ID, ISSUER_PATH

router = APIRouter(include_in_schema=False)
DISCOVERY_PATH = ISSUER_PATH + "/.well-known/openid-configuration"
TOKEN_PATH = ISSUER_PATH + "/protocol/openid-connect/token"
MAX_TOKEN_CHARS = 4096


def api_key_of(header: str) -> str:
    """The Neon API key inside a NEPTUNE_API_TOKEN (a bare key is taken as it is)."""
    header = header.strip()
    if not header:
        raise Unauthorized("missing X-Neptune-Api-Token header: set NEPTUNE_API_TOKEN (`neon neptune token`)")
    if header.startswith("neon_sk_"):
        return header
    if len(header) > MAX_TOKEN_CHARS:
        raise Unauthorized("NEPTUNE_API_TOKEN is too long to be one Neon issued")
    try:
        data = json.loads(base64.b64decode(header + "=" * (-len(header) % 4), validate=True))
        key = data["api_key"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise Unauthorized("NEPTUNE_API_TOKEN is not base64 JSON with an api_key: print a new one with "
                           "`neon neptune token`") from None
    if not isinstance(key, str):
        raise Unauthorized("NEPTUNE_API_TOKEN's api_key must be a Neon API key (a string)")
    return key


@router.get("/api/backend/v1/clients/config")
async def client_config(base: BaseUrl) -> dict[str, Any]:
    return {"apiUrl": base, "applicationUrl": base, "pyLibVersions": {},
            "security": {"clientId": CLIENT_ID, "openIdDiscovery": base + DISCOVERY_PATH}}


@router.get(DISCOVERY_PATH)
async def openid_configuration(base: BaseUrl) -> dict[str, Any]:
    issuer = base + ISSUER_PATH
    return {"issuer": issuer, "authorization_endpoint": issuer + "/protocol/openid-connect/auth",
            "token_endpoint": base + TOKEN_PATH, "grant_types_supported": ["refresh_token"]}


@router.get("/api/backend/v1/authorization/oauth-token")
async def exchange_api_key(request: Request, services: ServicesDep, base: BaseUrl) -> dict[str, str]:
    """The API key inside X-Neptune-Api-Token → an access and a refresh token (401 when the key is rejected)."""
    key = api_key_of(request.headers.get("x-neptune-api-token", ""))
    principal = services.keys.cached(key)
    if principal is None:
        principal = await run_in_threadpool(services.keys.authenticate, key)
    pair = services.neptune_tokens.issue(principal, base)
    return {"accessToken": pair.access, "refreshToken": pair.refresh, "username": principal.key_prefix}


@router.post(TOKEN_PATH)
async def refresh(request: Request, services: ServicesDep, base: BaseUrl) -> JSONResponse:
    """grant_type=refresh_token → a new pair, if the refresh token is valid and its API key still active.
    The clients do not look at the status: on any failure they exchange their API key again."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    if form.get("grant_type", [""])[0] != "refresh_token" or not form.get("refresh_token"):
        return error_response(400, "bad_request", "send grant_type=refresh_token and refresh_token")
    principal = services.neptune_tokens.verify(form["refresh_token"][0], "refresh")
    keys = await run_in_threadpool(services.keys.list, principal.project_id)
    if not any(k.id == principal.key_id and k.active for k in keys):
        raise Unauthorized("the API key this token was issued for is revoked or gone")
    pair = services.neptune_tokens.issue(principal, base)
    return JSONResponse({"access_token": pair.access, "refresh_token": pair.refresh, "token_type": "Bearer",
                         "expires_in": services.settings.neptune_token_seconds})
