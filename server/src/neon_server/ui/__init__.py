"""Serving the web UI: the built single-page app (under `dist/`, built from `web/` by `make ui`), at `/`.

Hashed assets under `/assets/` are cached for a year; every other path that is not the API answers `index.html`,
so that links into the app (`/traces/…`) work on reload. Without a build, `/` says how to make one.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match, Mount
from starlette.types import Receive, Scope, Send

from neon_server.api.errors import error_response

DIST = Path(__file__).parent / "dist"
API_PREFIXES = ("/api/", "/v1/")

NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Neon</title>
<body style="font: 15px system-ui; margin: 4rem auto; max-width: 40rem; line-height: 1.5">
<h1>Neon is running; its web UI is not built</h1>
<p>The API answers under <a href="/api/docs">/api/docs</a>. To build the UI, run <code>make ui</code> in the
repository (it needs Node.js 20+), or start with <code>make up</code>, which builds it when missing.</p>
"""


class _ImmutableAssets(StaticFiles):
    """Vite names assets by content hash, so a cached copy never goes stale."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def mount_ui(app: FastAPI, dist: Path = DIST) -> None:
    """Serve the SPA from `dist`. Call after every API router is included: the mount at `/` matches last."""
    app.router.routes.append(_UiRoute("/", app=_SinglePageApp(dist), name="ui"))


class _UiRoute(Mount):
    """A mount at `/` that leaves API paths alone, so they keep FastAPI's own 404 and 405 answers."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and scope["path"].startswith(API_PREFIXES):
            return Match.NONE, {}
        return super().matches(scope)


class _SinglePageApp:
    """An ASGI app: assets, files copied from web/public, and index.html for every other GET."""

    def __init__(self, dist: Path) -> None:
        self._dist = dist.resolve()
        self._index = self._dist / "index.html"
        self._assets = _ImmutableAssets(directory=self._dist / "assets", check_dir=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if scope["method"] not in ("GET", "HEAD"):
            method = scope["method"]
            response: Response = error_response(405, "method_not_allowed", f"{method} is not allowed on {path}",
                                                 {"Allow": "GET, HEAD"})
        elif path.startswith("/assets/") and (self._dist / "assets").is_dir():
            await self._assets(dict(scope, path=path[len("/assets"):], root_path=""), receive, send)
            return
        elif not self._index.is_file():
            response = HTMLResponse(NOT_BUILT)
        else:
            static = (self._dist / path.lstrip("/")).resolve()
            if static.is_file() and static.is_relative_to(self._dist) and static != self._index:
                response = FileResponse(static)  # favicon and the other files Vite copies from web/public
            else:
                response = FileResponse(self._index, headers={"Cache-Control": "no-cache"})
        await response(scope, receive, send)
