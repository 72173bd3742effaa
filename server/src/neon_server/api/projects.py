"""Projects and API keys, always within the caller's project."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.errors import errors
from neon_server.api.params import Body
from neon_server.domain.projects import ApiKey, Project

router = APIRouter(tags=["projects"])


class ProjectOut(BaseModel):
    id: str
    name: str
    created_at: datetime

    @classmethod
    def of(cls, project: Project) -> ProjectOut:
        return cls(id=project.id, name=project.name, created_at=project.created_at)


class ApiKeyOut(BaseModel):
    id: str
    project_id: str
    name: str
    prefix: str = Field(description="Visible start of the key, to recognise it; the secret is never shown again")
    created_at: datetime
    last_used_at: datetime | None = Field(description="Updated at most once a minute")
    revoked_at: datetime | None
    active: bool

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(id=key.id, project_id=key.project_id, name=key.name, prefix=key.prefix,
                   created_at=key.created_at, last_used_at=key.last_used_at, revoked_at=key.revoked_at,
                   active=key.active)


class ApiKeyCreate(Body):
    name: str = Field(default="", max_length=200, description="What the key is for, e.g. 'ci'")


class ApiKeyCreated(BaseModel):
    key: ApiKeyOut
    secret: str = Field(description="The API key itself. Shown only in this response: store it now")


@router.get("/api/project", summary="The project of the calling key")
def current_project(services: ServicesDep, principal: PrincipalDep) -> ProjectOut:
    return ProjectOut.of(services.projects.get(principal.project_id))


@router.get("/api/keys", summary="API keys of the caller's project (revoked ones included)")
def list_keys(services: ServicesDep, principal: PrincipalDep) -> list[ApiKeyOut]:
    return [ApiKeyOut.of(k) for k in services.keys.list(principal.project_id)]


@router.post("/api/keys", status_code=status.HTTP_201_CREATED, summary="Create a key in the caller's project")
def create_key(body: ApiKeyCreate, services: ServicesDep, principal: PrincipalDep) -> ApiKeyCreated:
    key, secret = services.keys.create(principal.project_id, body.name)
    return ApiKeyCreated(key=ApiKeyOut.of(key), secret=secret)


@router.delete("/api/keys/{key_id}", summary="Revoke a key of the caller's project (the calling key too)",
               responses=errors((404, "No key with this id in the caller's project")))
def revoke_key(key_id: str, services: ServicesDep, principal: PrincipalDep) -> ApiKeyOut:
    return ApiKeyOut.of(services.keys.revoke(principal.project_id, key_id))
