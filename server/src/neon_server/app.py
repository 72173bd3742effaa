"""The FastAPI application factory. The caller opens and closes the services; the app only uses them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from neon_server import __version__
from neon_server.api import (
    ab_tests,
    agent_blobs,
    agent_run_diff,
    agent_runs,
    agents,
    datasets,
    evals,
    health,
    ingest,
    live,
    logs,
    online,
    otlp,
    prices,
    projects,
    run_stream,
    scores,
    traces,
    track,
    track_dashboards,
    track_formulas,
    track_ingest,
    track_io,
    track_shared,
    track_table,
)
from neon_server.api.errors import LiteralPathsFirst, document_common_errors, install_error_handlers
from neon_server.api.neptune import ROUTERS as NEPTUNE_ROUTERS
from neon_server.api.neptune_read import ROUTERS as NEPTUNE_READ_ROUTERS
from neon_server.runtime import Services
from neon_server.ui import DIST, mount_ui


def create_app(services: Services | None, *, ui_dist: Path = DIST) -> FastAPI:
    """The app over open services. `services=None` builds it only to describe it (`openapi_document`)."""
    app = FastAPI(
        title="Neon",
        version=__version__,
        description="Observe, evaluate and run AI agents. Every route but /api/health needs an API key; the "
                    "routes workers use (span ingestion, agent blobs, run stream publishing) also take a run token.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(LiteralPathsFirst)
    app.include_router(health.router)
    app.include_router(projects.router)
    app.include_router(otlp.router)
    app.include_router(logs.router)
    app.include_router(ingest.router)
    app.include_router(prices.router)
    app.include_router(scores.router)
    app.include_router(traces.router)
    app.include_router(live.router)
    app.include_router(datasets.router)
    app.include_router(evals.router)
    app.include_router(ab_tests.router)
    app.include_router(online.router)
    app.include_router(agent_blobs.router)
    app.include_router(run_stream.router)
    app.include_router(agents.router)
    app.include_router(agent_run_diff.router)  # before agent_runs: /api/agent-runs/{run_id} would take 'diff'
    app.include_router(agent_runs.router)
    for router in NEPTUNE_ROUTERS:
        app.include_router(router)
    app.include_router(track.router)
    app.include_router(track_ingest.router)
    app.include_router(track_io.router)
    app.include_router(track_formulas.router)
    for router in NEPTUNE_READ_ROUTERS:
        app.include_router(router)
    app.include_router(track_table.router)
    app.include_router(track_dashboards.router)
    app.include_router(track_shared.router)
    mount_ui(app, ui_dist)
    describe = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_common_errors(describe())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, built without opening any store."""
    return create_app(None).openapi()


if __name__ == "__main__":  # python -m neon_server.app > web/openapi.json (what `make ui` does)
    print(json.dumps(openapi_document(), indent=1, sort_keys=True))
