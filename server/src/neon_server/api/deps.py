"""Request dependencies: the server's services and the caller's principal (project + key).

Two ways to authenticate, chosen per route:
- `PrincipalDep`: an API key. Every route uses it unless it says otherwise; a run token is refused (403).
- `KeyOrRunTokenDep`: an API key or a run token (services/run_tokens.py). Only the routes workers need
  declare it: span ingestion (`POST /api/traces/ingest`, `POST /v1/traces`), the agent blob routes and
  `POST /api/agent-runs/{run_id}/stream`, and the two writes of the eval workflows (`POST /api/eval-runs/{id}/
  results` and `/finish`; a token reaches only its own project's runs).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from neon_server.domain.projects import Principal
from neon_server.runtime import Services
from neon_server.services.errors import Forbidden, Unauthorized
from neon_server.services.run_tokens import RUN_TOKEN_PREFIX, is_run_token

MISSING_KEY = (
    "missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>' "
    "(for OTLP exporters: OTEL_EXPORTER_OTLP_HEADERS='Authorization=Bearer <key>')"
)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def services_dependency(request: Request) -> Services:
    """`get_services` as a dependency. Dependencies are async: FastAPI runs a plain `def` dependency in a worker
    thread, a hop that cost the OTLP endpoint ~17% of its event loop's time under load."""
    return get_services(request)


def api_key_from(headers: Headers) -> str | None:
    """The key from `Authorization: Bearer …` or `x-api-key` (the header OTLP exporters are easy to give)."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthorized(f"unsupported Authorization scheme {scheme!r}: use 'Bearer <key>'")
        return value.strip() or None
    key = headers.get("x-api-key")
    return key.strip() if key else None


RUN_CREDENTIAL_REFUSED = (
    "run tokens can only ingest spans, read and write agent blobs and publish run stream events; "
    "{method} {path} needs an API key"
)

# Declared so the OpenAPI document says how to authenticate (either one); `api_key_from` reads the headers itself,
# to answer each malformed form with its own message.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", description="`Authorization: Bearer <API key>`")
API_KEY_HEADER = APIKeyHeader(name="x-api-key", auto_error=False, scheme_name="apiKey",
                              description="`x-api-key: <API key>` (the header OTLP exporters are easy to give)")


async def presented_credential(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    _api_key: Annotated[str | None, Security(API_KEY_HEADER)],
) -> str:
    """The key or token the caller sent (401 when none)."""
    raw = api_key_from(request.headers)
    if not raw:
        raise Unauthorized(MISSING_KEY)
    return raw


Credential = Annotated[str, Depends(presented_credential)]


async def require_principal(request: Request, raw: Credential) -> Principal:
    """An API key's principal. A valid run token is refused with 403, an invalid one with 401."""
    if is_run_token(raw):
        get_services(request).run_tokens.verify(raw)
        raise Forbidden(RUN_CREDENTIAL_REFUSED.format(method=request.method, path=request.url.path))
    return await _key_principal(request, raw)


async def require_key_or_run_token(request: Request, raw: Credential) -> Principal:
    """An API key's principal, or a run token's: the token's project, marked `credential="run_token"`."""
    if is_run_token(raw):
        project_id = get_services(request).run_tokens.verify(raw)
        return Principal(project_id=project_id, key_id="", key_prefix=RUN_TOKEN_PREFIX, credential="run_token")
    return await _key_principal(request, raw)


async def _key_principal(request: Request, raw: str) -> Principal:
    keys = get_services(request).keys
    # Recently verified keys are answered from memory, without a thread hop or a database read.
    cached = keys.cached(raw)
    return cached if cached is not None else await run_in_threadpool(keys.authenticate, raw)


ServicesDep = Annotated[Services, Depends(services_dependency)]
PrincipalDep = Annotated[Principal, Depends(require_principal)]
KeyOrRunTokenDep = Annotated[Principal, Depends(require_key_or_run_token)]
