"""Neptune's wire protocol, so the unmodified neptune-scale client logs to Neon (docs/track-neptune.md).

Routes live at the paths Neptune's clients call; they are left out of Neon's OpenAPI document (their bodies are
Neptune's protobuf and JSON, described in the Neptune client packages).
"""

from __future__ import annotations

from fastapi import APIRouter

from neon_server.api.neptune import auth, files, ingest

ROUTERS: tuple[APIRouter, ...] = (auth.router, ingest.router, files.router)
