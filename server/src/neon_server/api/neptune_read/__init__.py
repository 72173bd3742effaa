"""Neptune's read protocol, so the unmodified neptune-query client reads runs stored in Neon
(docs/track-neptune-query.md).

Routes live at the paths neptune-query calls and are left out of Neon's OpenAPI document (their bodies are
Neptune's JSON, their answers Neptune's protobuf, both described by the Neptune client packages).
"""

from __future__ import annotations

from fastapi import APIRouter

from neon_server.api.neptune_read import routes

ROUTERS: tuple[APIRouter, ...] = (routes.router,)
