"""Agent runs over HTTP: start, list, read, message, pause/resume/close/cancel, and approvals."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, Field

from neon.execute import shared as s
from neon_server.api.agent_replay_schemas import RunReplay
from neon_server.api.agent_run_schemas import (
    ActionDone,
    ApprovalList,
    ApprovalOut,
    MessageQueued,
    RunDetail,
    RunList,
    RunOut,
)
from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.errors import errors
from neon_server.domain.projects import Principal
from neon_server.services.errors import InvalidInput

router = APIRouter(tags=["agent runs"])
RunId = Annotated[str, Path(pattern=r"^run_[a-z2-7]{26}$", description="a run id, as starting the run answered")]
CallId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$",
                             description="the waiting call's id, or its step key")]
SAFE = r"^[A-Za-z0-9_.:@-]+$"
# Temporal answers for runs: while it is unreachable, these routes answer 503 (the rest of Neon goes on).
TEMPORAL_DOWN = (503, "Temporal is not reachable (yet): retry after Retry-After seconds")


class StartRunIn(BaseModel):
    agent: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
                       description="the agent's name (a spec in the agents folder)")
    input: str = Field(min_length=1, description="the first user message")
    variables: dict[str, str] = Field(default_factory=dict, description="system-prompt template variables")
    spec: dict[str, Any] | None = Field(default=None, description="run this spec instead of the folder's")
    stream: bool = Field(default=True, description="stream tokens to subscribers of the run's events")
    multi_turn: bool = Field(default=True, description="stay open for further messages after an answer")
    idle_timeout_seconds: float = Field(default=86_400, gt=0, le=365 * 86_400,
                                        description="close a waiting run after this long without a message")


class ForkIn(BaseModel):
    at_step: int = Field(ge=0, description="steps of the parent with a smaller index are reused (no calls made); "
                                           "the fork goes live from this step")
    system_prompt: str | None = Field(default=None, min_length=1, description="replaces the system prompt")
    model: str | None = Field(default=None, min_length=1, max_length=200, description="another model name")
    provider: str | None = Field(default=None, description="another provider (openai, anthropic)")
    parameters: dict[str, Any] | None = Field(default=None, description="merged into the model's parameters")
    tools: list[str] | None = Field(default=None, description="keep only these tools, by name")
    version: str | None = Field(default=None, max_length=200, pattern=SAFE,
                                description="run this recorded version of the agent instead of the parent's")
    input: str | None = Field(default=None, min_length=1,
                              description="replace the user message of at_step's turn (at_step must start it)")


class MessageIn(BaseModel):
    text: str = Field(min_length=1, max_length=1_000_000)


class DecisionIn(BaseModel):
    reason: str = Field(default="", max_length=10_000, description="why: recorded in the run and its trace")
    by: str = Field(default="", max_length=200, description="who decided (default: the API key's prefix)")


def _who(principal: Principal, by: str) -> str:
    key = f"key {principal.key_prefix}"
    return f"{by} ({key})" if by else key


@router.post("/api/agent-runs", status_code=status.HTTP_201_CREATED, response_model=RunOut,
             responses=errors((404, "No agent of that name in the agents folder"), 422, TEMPORAL_DOWN))
async def start_run(body: StartRunIn, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Start a durable run of an agent with its first message."""
    return await services.agent_runs.start(principal.project_id, body.agent, body.input, variables=body.variables,
                                           spec=body.spec, stream=body.stream, multi_turn=body.multi_turn,
                                           idle_timeout_seconds=body.idle_timeout_seconds)


@router.post("/api/agent-runs/{run_id}/fork", status_code=status.HTTP_201_CREATED, response_model=RunOut,
             responses=errors((404, "No such run, or no such version of its agent"),
                              (422, "at_step out of range, an unknown tool, or an invalid forked spec"),
                              TEMPORAL_DOWN))
async def fork_run(run_id: RunId, body: ForkIn, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """A new run that reuses the parent's recorded steps before at_step and goes live from there, with the
    given changes. The fork records its parent, at_step and the overrides (`fork` in its summary)."""
    overrides = body.model_dump(exclude={"at_step"}, exclude_none=True)
    return await services.agent_runs.fork(principal.project_id, run_id, body.at_step, overrides)


@router.get("/api/agent-runs", response_model=RunList, responses=errors(422, TEMPORAL_DOWN))
async def list_runs(services: ServicesDep, principal: PrincipalDep,
                    agent: Annotated[str | None, Query(max_length=200, pattern=SAFE)] = None,
                    version: Annotated[str | None, Query(max_length=200, pattern=SAFE)] = None,
                    status_: Annotated[str | None, Query(alias="status", max_length=40, pattern=SAFE)] = None,
                    fork_of: Annotated[str | None, Query(pattern=r"^run_[a-z2-7]{26}$",
                                                         description="only the forks of this run")] = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
                    page_token: Annotated[str | None, Query(min_length=1, max_length=4000)] = None
                    ) -> dict[str, Any]:
    """Runs of this project, newest first, filtered by agent, version, status and the run they were forked
    from."""
    token = None
    if page_token:
        try:
            token = base64.urlsafe_b64decode(page_token.encode())
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput("page_token is not one this API gave out") from exc
    runs, next_token = await services.agent_runs.list_runs(principal.project_id, agent=agent, version=version,
                                                      status=status_, fork_of=fork_of, limit=limit,
                                                      page_token=token)
    return {"runs": runs,
            "next_page_token": base64.urlsafe_b64encode(next_token).decode() if next_token else None}


@router.get("/api/agent-runs/{run_id}", response_model=RunDetail, responses=errors(404, TEMPORAL_DOWN))
async def get_run(run_id: RunId, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """A run: status, steps with summaries, approvals, usage against budgets, the answer and the trace id."""
    return await services.agent_runs.get(principal.project_id, run_id)


@router.get("/api/agent-runs/{run_id}/replay", response_model=RunReplay, responses=errors(404, TEMPORAL_DOWN))
async def replay_run(run_id: RunId, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """The run step by step from its recorded history, with no model or tool call: each step's input and result
    (the conversation as the model got it, tool arguments and results), approvals, user messages, and the usage
    after each step against the budgets; `deterministic` says whether the history replays against this server's
    workflow code."""
    return await services.agent_runs.replay(principal.project_id, run_id, services.agent_blobs)


@router.post("/api/agent-runs/{run_id}/messages", status_code=status.HTTP_202_ACCEPTED, response_model=MessageQueued,
             responses=errors(404, (409, "The run takes no messages: it has ended, or was started single-turn"),
                              TEMPORAL_DOWN))
async def send_message(run_id: RunId, body: MessageIn, services: ServicesDep, principal: PrincipalDep
                       ) -> dict[str, Any]:
    """The next user message of a multi-turn run (queued while a turn is running)."""
    position = await services.agent_runs.send_message(principal.project_id, run_id, body.text,
                                                      _who(principal, ""))
    return {"run_id": run_id, "queued": position}


ACTIONS = {s.PAUSE: "Pause after the current step.", s.RESUME: "Resume a paused run.",
           s.CLOSE: "End a run waiting for its next message.", "cancel": "Cancel the run at once."}


def _action_route(action: str) -> None:
    async def act(run_id: RunId, services: ServicesDep, principal: PrincipalDep) -> dict[str, str]:
        if action == "cancel":
            await services.agent_runs.cancel(principal.project_id, run_id)
        else:
            await services.agent_runs.signal(principal.project_id, run_id, action)
        return {"run_id": run_id, "action": action}

    router.add_api_route(f"/api/agent-runs/{{run_id}}/{action}", act, methods=["POST"], response_model=ActionDone,
                         responses=errors(404, TEMPORAL_DOWN),
                         status_code=status.HTTP_202_ACCEPTED, name=f"{action}_run", summary=ACTIONS[action])


for _action in ACTIONS:
    _action_route(_action)


@router.get("/api/agent-approvals", response_model=ApprovalList, responses=errors(TEMPORAL_DOWN))
async def pending_approvals(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Every tool call waiting for a human decision in this project, oldest first."""
    return {"approvals": await services.agent_runs.approvals(principal.project_id)}


@router.post("/api/agent-runs/{run_id}/approvals/{call_id}/approve", response_model=ApprovalOut,
             responses=errors(404, (409, "No call of that id waits for a decision in the run"), TEMPORAL_DOWN))
async def approve(run_id: RunId, call_id: CallId, body: DecisionIn, services: ServicesDep, principal: PrincipalDep
                  ) -> dict[str, Any]:
    """Approve one waiting call (by its call id or step key); the run goes on."""
    return await services.agent_runs.decide(principal.project_id, run_id, call_id, approved=True,
                                            by=_who(principal, body.by), reason=body.reason)


@router.post("/api/agent-runs/{run_id}/approvals/{call_id}/reject", response_model=ApprovalOut,
             responses=errors(404, (409, "No call of that id waits for a decision in the run"), TEMPORAL_DOWN))
async def reject(run_id: RunId, call_id: CallId, body: DecisionIn, services: ServicesDep, principal: PrincipalDep
                 ) -> dict[str, Any]:
    """Reject one waiting call; the model is told, with the reason."""
    return await services.agent_runs.decide(principal.project_id, run_id, call_id, approved=False,
                                            by=_who(principal, body.by), reason=body.reason)
