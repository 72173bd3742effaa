"""Every error leaves the API as JSON: {"error": {"code": …, "message": …}}, with a message a person can act on.

The same module documents them: `ErrorBody` is the shape, `errors(…)` the `responses=` entries a route declares
for the errors that depend on what it does (404, 409, …), and `document_common_errors` adds to every operation of
the OpenAPI document the ones that follow from its signature (401 when it needs a key, 422 when it takes input,
400 when it reads a JSON body).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from neon_server.services.errors import ServiceError, Unauthorized

log = logging.getLogger("neon.api")

AUTH_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="neon"'}
HTTP_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str = Field(description="stable and machine-readable: invalid_input, unauthorized, not_found, conflict, "
                                  "bad_request, too_large, unsupported_media_type, too_many_requests, unavailable, …")
    message: str = Field(description="what was wrong and what to do, for a person; 422 names the parameter")


class ErrorBody(BaseModel):
    """The body of every error answer of the API (the OTLP receiver answers google.rpc.Status instead)."""

    error: ErrorDetail


RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}

# What each status means wherever it is answered; a route may say more precisely when (see `errors`).
ERROR_MEANINGS: dict[int, str] = {
    400: "The request body could not be read: not UTF-8 JSON, or a gzip body that does not decompress",
    401: "Missing, malformed, unknown or revoked API key",
    404: "Nothing of that name or id in the caller's project",
    409: "The request conflicts with the current state of the resource",
    413: "The body is over the size limit (NEON_INGEST_MAX_BODY_BYTES, or NEON_INGEST_MAX_DECOMPRESSED_BYTES "
         "once decompressed)",
    415: "Unsupported Content-Type or Content-Encoding",
    422: "A parameter or the body is invalid; the message names it",
    429: "The write buffer is full; retry after Retry-After seconds",
    503: "The server cannot do this right now; retry later",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": AUTH_CHALLENGE["WWW-Authenticate"], "schema": {"type": "string"}}},
    429: RETRY_AFTER,
}


def errors(*statuses: int | tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for error statuses, each with `ErrorBody`: `errors(404, (409, "when it conflicts"))`."""
    documented: dict[int | str, dict[str, Any]] = {}
    for given in statuses:
        status, meaning = given if isinstance(given, tuple) else (given, ERROR_MEANINGS[given])
        documented[status] = {"model": ErrorBody, "description": meaning}
        if status in _HEADERS:
            documented[status]["headers"] = _HEADERS[status]
    return documented


def document_common_errors(openapi: dict[str, Any]) -> dict[str, Any]:
    """Document in an OpenAPI document the errors each operation's signature makes possible; returns it.

    401 where the operation needs a key; where FastAPI validates the input (it documented a 422 in its own shape),
    that 422 in `ErrorBody`, as `install_error_handlers` answers it, and 400 if the input is a JSON body (one
    that is not UTF-8 JSON). An operation that documents one of them itself keeps its own.
    """
    body_ref = {"$ref": "#/components/schemas/ErrorBody"}
    for operation in _operations(openapi):
        responses = operation.setdefault("responses", {})
        validated = _is_fastapi_validation_error(responses.get("422", {}))
        common = [401] if operation.get("security") else []
        if validated:
            common.append(422)
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                common.append(400)
        for status, response in errors(*common).items():
            if str(status) not in responses or status == 422:
                documented = {k: v for k, v in response.items() if k != "model"}
                responses[str(status)] = {**documented, "content": {"application/json": {"schema": body_ref}}}
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    error_body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, schema in {**error_body.pop("$defs"), "ErrorBody": error_body}.items():
        schemas.setdefault(name, schema)
    if "HTTPValidationError" not in json.dumps(openapi["paths"]):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return openapi


def _operations(openapi: dict[str, Any]) -> list[dict[str, Any]]:
    methods = ("get", "put", "post", "delete", "patch", "head", "options")
    return [op for item in openapi.get("paths", {}).values() for method, op in item.items() if method in methods]


def _is_fastapi_validation_error(response: dict[str, Any]) -> bool:
    return "HTTPValidationError" in json.dumps(response)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status,
                        headers=headers)


def _describe_validation(exc: RequestValidationError) -> str:
    """Each problem as `where: what`, e.g. `items[1].input: is required`, in words rather than regexes."""
    from neon_server.api.params import PATTERN_MEANINGS

    parts: list[str] = []
    for err in exc.errors():
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.get("loc", ()) if _is_name(p))
        what = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        kind, ctx = err.get("type"), err.get("ctx", {})
        if kind == "missing":
            what = "is required"
        elif kind == "extra_forbidden":
            what = "unknown field"
        elif kind in ("string_too_short", "too_short") and ctx.get("min_length") == 1:
            what = "must not be empty"
        elif kind == "string_too_long":
            what = f"must be at most {ctx.get('max_length')} characters"
        elif kind == "string_pattern_mismatch":
            meaning = PATTERN_MEANINGS.get(str(ctx.get("pattern")))
            what = f"must be {meaning}, got {_shown(err.get('input'))}" if meaning else what
        part = f"{where.lstrip('.') or 'request'}: {what}"
        if part not in parts:  # the branches of a union often say the same
            parts.append(part)
    return "; ".join(parts)


def _is_name(part: Any) -> bool:
    """A field name or an index of an error's location, not `body` nor the type of a union's branch (`str`,
    `list[constrained-str]`, `ScorerSpecIn`), which mean nothing to the caller."""
    return isinstance(part, int) or (part != "body" and bool(_FIELD.match(str(part))) and part not in _TYPE_NAMES)


_FIELD = re.compile(r"^[a-z_][a-z0-9_]*$")
_TYPE_NAMES = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def _shown(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def allowed_methods(request: Request) -> str:
    """The `Allow` value for the request's path: every method the API documents for it (a literal path such as
    `/api/traces/ingest` wins over a template that also matches it), else every method some route answers there,
    not only those of the first route Starlette found."""
    documented = _documented_methods(documented_paths(request.app), request.scope["path"])
    if documented:
        return ", ".join(documented)
    return ", ".join(method for method in HTTP_METHODS if any(
        route.matches({**request.scope, "method": method})[0] is Match.FULL for route in request.app.router.routes))


def documented_paths(app: FastAPI) -> dict[str, list[str]]:
    """Path template → the methods the OpenAPI document lists for it, sorted. Read from the routes the document
    is made of (the operations FastAPI puts in it), not from the document: building that takes about a second,
    which the first request to a new app (the first health check of `neon up`) would otherwise wait for."""
    found: dict[str, list[str]] | None = getattr(app.state, "documented_paths", None)
    if found is None:
        methods: dict[str, set[str]] = {}
        for route in iter_route_contexts(app.routes):  # as FastAPI's get_openapi walks them, included routers too
            if isinstance(route.original_route, APIRoute) and route.include_in_schema and route.path_format:
                methods.setdefault(route.path_format, set()).update(m for m in route.methods or () if m in HTTP_METHODS)
        found = {path: sorted(names) for path, names in methods.items()}
        app.state.documented_paths = found
    return found


def _documented_methods(paths: dict[str, list[str]], path: str) -> list[str]:
    matching = [template for template in paths if _template(template).fullmatch(path)]
    if not matching:
        return []
    best = min(matching, key=lambda template: template.count("{"))
    return paths[best]


@functools.cache
def _template(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)))


class LiteralPathsFirst:
    """ASGI middleware: a request to a literal path with a method that path does not have is answered 405, as
    OpenAPI matches literal paths before templates, instead of reaching a template that also matches it
    (`GET /api/eval-runs/start` is not the run "start")."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "{" not in scope["path"]:
            methods = documented_paths(scope["app"]).get(scope["path"])
            if methods is not None and scope["method"] not in methods:
                message = f"{scope['method']} is not allowed on {scope['path']}"
                response = error_response(405, "method_not_allowed", message, {"Allow": ", ".join(methods)})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        headers = AUTH_CHALLENGE if isinstance(exc, Unauthorized) else None
        return error_response(exc.status_code, exc.code, exc.message, headers, **exc.details)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_input", _describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        headers = dict(exc.headers) if exc.headers else {}
        if exc.status_code == 400 and message == "There was an error parsing the body":
            # FastAPI's answer to a body it cannot even decode (not UTF-8): as invalid as malformed JSON, which it
            # answers 422, and every route with a body documents 422.
            return error_response(422, "invalid_input", "the request body is not UTF-8 JSON")
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        if exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
            # Starlette names only the first route that matched the path; other methods may live on other routes.
            headers["Allow"] = allowed_methods(request)
        return error_response(exc.status_code, _code_for(exc.status_code), message, headers or None)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"fields": {"path": request.url.path}})
        return error_response(500, "internal", "internal error; the server log has the details")


def _code_for(status: int) -> str:
    return {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
            415: "unsupported_media_type", 429: "too_many_requests", 503: "unavailable"}.get(status, "http_error")
