"""A minimal Neptune sign-in for reads: the API-key exchange neptune-query makes once per process.

`GET /api/backend/v1/authorization/oauth-token` takes `X-Neptune-Api-Token` (NEPTUNE_API_TOKEN: base64 JSON
whose `api_key` is a Neon API key) and answers a JWT access token that Neon signs (HS256, key derived from the
server's secret) and verifies on every read. It stands in until the full Neptune sign-in (client config,
discovery, refresh) is served by `api/neptune/`; then this router goes and `read_auth` verifies that one's
tokens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from neon_server.api.deps import get_services
from neon_server.domain.projects import Principal
from neon_server.services.errors import Unauthorized
from neon_server.services.run_tokens import load_secret

router = APIRouter(include_in_schema=False)
ALGORITHM = "HS256"
CLIENT_ID = "neptune-cli"
ISSUER_PATH = "/api/neptune/oauth"
ACCESS_SECONDS = 3600
CONTEXT = b"neon-neptune-read-jwt:v1"
MAX_TOKEN_CHARS = 4096


def looks_like_jwt(raw: str) -> bool:
    return raw.startswith("eyJ") and raw.count(".") == 2


def _key(request: Request) -> bytes:
    state = request.app.state
    key: bytes | None = getattr(state, "neptune_read_jwt_key", None)
    if key is None:
        settings = get_services(request).settings
        secret = settings.secret_key.get_secret_value() if settings.secret_key is not None else None
        key = hmac.new(load_secret(secret, settings.home), CONTEXT, hashlib.sha256).digest()
        state.neptune_read_jwt_key = key
    return key


def verify_access_token(request: Request, token: str) -> Principal:
    try:
        claims: dict[str, Any] = jwt.decode(token, _key(request), algorithms=[ALGORITHM],
                                            options={"require": ["exp", "iss", "sub", "azp"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Neptune access token expired: the client exchanges its API key again") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"invalid Neptune access token: {exc}") from None
    if claims["azp"] != CLIENT_ID or not str(claims["iss"]).endswith(ISSUER_PATH):
        raise Unauthorized("Neptune access token was not issued by Neon")
    return Principal(project_id=str(claims["sub"]), key_id=str(claims.get("key", "")),
                     key_prefix=str(claims.get("prefix", "")))


def api_key_of(header: str) -> str:
    """The Neon API key inside a NEPTUNE_API_TOKEN."""
    header = header.strip()
    if not header:
        raise Unauthorized("missing X-Neptune-Api-Token header: set NEPTUNE_API_TOKEN")
    if len(header) > MAX_TOKEN_CHARS:
        raise Unauthorized("NEPTUNE_API_TOKEN is too long to be one Neon issued")
    try:
        key = json.loads(base64.b64decode(header + "=" * (-len(header) % 4), validate=True))["api_key"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise Unauthorized("NEPTUNE_API_TOKEN is not base64 JSON with an api_key") from None
    if not isinstance(key, str):
        raise Unauthorized("NEPTUNE_API_TOKEN's api_key must be a Neon API key (a string)")
    return key


@router.get("/api/backend/v1/authorization/oauth-token")
async def exchange_api_key(request: Request) -> dict[str, str]:
    """X-Neptune-Api-Token → an access token for the key's project (401 when the key is rejected)."""
    key = api_key_of(request.headers.get("x-neptune-api-token", ""))
    keys = get_services(request).keys
    principal = keys.cached(key)
    if principal is None:
        principal = await run_in_threadpool(keys.authenticate, key)
    now = int(time.time())
    issuer = str(request.base_url).rstrip("/") + ISSUER_PATH
    claims = {"iss": issuer, "azp": CLIENT_ID, "sub": principal.project_id, "key": principal.key_id,
              "prefix": principal.key_prefix, "iat": now, "exp": now + ACCESS_SECONDS}
    token = jwt.encode(claims, _key(request), algorithm=ALGORITHM)
    return {"accessToken": token, "refreshToken": token, "username": principal.key_prefix}
