"""The FastAPI application factory. The caller opens and closes the services; the app only uses them."""

from __future__ import annotations

from fastapi import FastAPI

from neon_server import __version__
from neon_server.api import datasets, evals, health, ingest, live, otlp, prices, projects, scores, traces
from neon_server.api.errors import install_error_handlers
from neon_server.runtime import Services


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="Neon",
        version=__version__,
        description="Observe, evaluate and run AI agents. Every route but /api/health needs an API key.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(projects.router)
    app.include_router(otlp.router)
    app.include_router(ingest.router)
    app.include_router(prices.router)
    app.include_router(scores.router)
    app.include_router(traces.router)
    app.include_router(live.router)
    app.include_router(datasets.router)
    app.include_router(evals.router)
    return app
