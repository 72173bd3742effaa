"""Response shapes of the agent spec endpoints (`/api/agents`), for the OpenAPI schema and the UI's client.

As in `eval_schemas.py`, the handlers return the services' plain dicts; these models document them, and
`server/tests/test_agents_api.py` checks real answers against them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

ISO_TIME = "ISO 8601 with offset: 2026-01-02T03:04:05.123456+00:00"
VERSION = "first 12 hex digits of the sha256 of the spec's canonical JSON"
SPEC = "the canonical spec: every field, defaults filled in (the format: `neon agent schema`, docs/agents.md)"


class AgentSummary(BaseModel):
    name: str
    latest_version: str = Field(description=VERSION)
    description: str
    model: str = Field(description="provider:model of the latest version")
    tools: list[str] = Field(description="tool names of the latest version")
    version_count: int
    first_seen_at: str = Field(description=ISO_TIME)
    updated_at: str = Field(description=f"when the latest version was recorded; {ISO_TIME}")


class AgentList(BaseModel):
    agents: list[AgentSummary] = Field(description="by name")


class AgentVersionRef(BaseModel):
    name: str
    version: str = Field(description=VERSION)
    created_at: str = Field(description=f"when the server first saw this version; {ISO_TIME}")


class AgentVersion(AgentVersionRef):
    spec: dict[str, Any] = Field(description=SPEC)


class Agent(BaseModel):
    name: str
    latest: AgentVersion
    versions: list[AgentVersionRef] = Field(description="newest first")


class AgentRecorded(AgentVersion):
    created: bool = Field(description="false when this version was already recorded (same content)")


class SpecChange(BaseModel):
    path: str = Field(description="the field, e.g. model.parameters.temperature or tools[lookup_order].retry")
    kind: Literal["added", "removed", "changed"]
    old: Any = Field(description="null when added")
    new: Any = Field(description="null when removed")


class AgentDiff(BaseModel):
    name: str
    from_version: str = Field(alias="from")
    to_version: str = Field(alias="to")
    changes: list[SpecChange] = Field(description="in field order; tools matched by name")


class SpecErrorItem(BaseModel):
    field: str = Field(description="the field path, e.g. tools[1].parameters.type")
    message: str


class SpecErrorBody(BaseModel):
    code: Literal["invalid_input"]
    message: str
    errors: list[SpecErrorItem] = Field(default_factory=list, description="every problem of the spec (absent when "
                                        "the body is not an object at all)")


class SpecErrorResponse(BaseModel):
    error: SpecErrorBody
