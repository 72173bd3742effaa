"""Agents: the versions of agent specs a project has recorded (`/api/agents`). A version is the spec's content
hash; recording the same spec again is a no-op, so clients may record on every run."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response, status
from starlette.concurrency import run_in_threadpool

from neon_server.api import agent_schemas as out
from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.errors import errors
from neon_server.api.schemas import ok

router = APIRouter(tags=["agents"])
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"  # an agent's name is a slug (agent.schema.json)
Name = Annotated[str, Path(pattern=NAME_PATTERN, description="the agent's name")]
Version = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$", description="a version: 12 hex digits of the spec's hash")]

SPEC_BODY = Body(description="an agent spec as JSON: the YAML file's content, or `AgentSpec.to_dict()` "
                             "(format: `neon agent schema`, docs/agents.md)",
                 examples=[{"name": "support", "model": {"provider": "openai", "name": "gpt-4o-mini"},
                            "system_prompt": "You help the customers of Acme."}])


@router.get("/api/agents", summary="The project's agents: each one's latest version and how many there are",
            responses=ok(out.AgentList), response_model=None)
async def list_agents(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    found = await run_in_threadpool(services.agents.list, principal.project_id)
    return {"agents": [summary.to_dict() for summary in found]}


@router.post("/api/agents", status_code=status.HTTP_201_CREATED,
             summary="Record an agent spec's version (201 when new, 200 when already recorded)",
             responses={201: {"model": out.AgentRecorded}, 200: {"model": out.AgentRecorded},
                        422: {"model": out.SpecErrorResponse, "description": "the spec's errors, by field"}},
             response_model=None)
async def record_agent(spec: Annotated[dict[str, Any], SPEC_BODY], services: ServicesDep,
                       principal: PrincipalDep, response: Response) -> dict[str, Any]:
    version, created = await run_in_threadpool(services.agents.record, principal.project_id, spec)
    if not created:
        response.status_code = status.HTTP_200_OK
    return {**version.to_dict(), "created": created}


@router.get("/api/agents/{name}", summary="An agent: its latest version (with the spec) and every version",
            responses={**ok(out.Agent), **errors(404)}, response_model=None)
async def get_agent(name: Name, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    versions = await run_in_threadpool(services.agents.versions, principal.project_id, name)
    return {"name": name, "latest": versions[0].to_dict(),
            "versions": [v.to_dict(with_spec=False) for v in versions]}


@router.get("/api/agents/{name}/versions/{version}", summary="One version of an agent, with its spec",
            responses={**ok(out.AgentVersion), **errors(404)}, response_model=None)
async def get_agent_version(name: Name, version: Version, services: ServicesDep,
                            principal: PrincipalDep) -> dict[str, Any]:
    found = await run_in_threadpool(services.agents.get, principal.project_id, name, version)
    return found.to_dict()


@router.get("/api/agents/{name}/diff", summary="The fields that changed from one version of an agent to another",
            responses={**ok(out.AgentDiff), **errors(404)}, response_model=None)
async def diff_agent_versions(name: Name, services: ServicesDep, principal: PrincipalDep,
                              old: Annotated[str, Query(alias="from", pattern=r"^[0-9a-f]{12}$",
                                                        description="the older version")],
                              new: Annotated[str, Query(alias="to", pattern=r"^[0-9a-f]{12}$",
                                                        description="the newer version")],
                              ) -> dict[str, Any]:
    changes = await run_in_threadpool(services.agents.diff, principal.project_id, name, old, new)
    return {"name": name, "from": old, "to": new, "changes": changes}
