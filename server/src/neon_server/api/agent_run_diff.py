"""`GET /api/agent-runs/diff?a=RUN&b=RUN`: two runs side by side (neon.execute.run_diff).

Its own router, included before the agent-runs router: `/api/agent-runs/{run_id}` would otherwise take `diff`
for a run id (and refuse it as one).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from neon_server.api.agent_run_schemas import UsageOut
from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.errors import errors
from neon_server.services.agent_run_diff import diff_agent_runs

router = APIRouter(tags=["agent runs"])
RUN_ID = r"^run_[a-z2-7]{26}$"
RunQuery = Annotated[str, Query(pattern=RUN_ID, description="a run id (run_ and 26 base32 letters)")]
Change = Literal["status", "prompt", "arguments", "output", "error"]


class StepContentOut(BaseModel):
    system_prompt: str | None = Field(description="LLM step: the system prompt sent")
    messages: list[dict[str, Any]] | None = Field(
        description="LLM step: the messages sent after the system prompt; null when not in the run's history")
    text: str | None = Field(description="LLM step: the reply's text")
    tool_calls: list[dict[str, Any]] | None = Field(description="LLM step: the calls the reply asked for")
    arguments: dict[str, Any] | None = Field(description="tool step: the call's arguments")
    result: Any = Field(description="tool step: the result the model was given")


class StepSideOut(BaseModel):
    key: str
    index: int
    turn: int
    kind: str
    name: str
    status: str
    summary: str
    error: str | None
    arguments: dict[str, Any] | None
    output_ref: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float | None = Field(description="null: the model call has no known price")
    latency_ms: float | None = Field(description="ended − started; null while running")
    content: StepContentOut | None = Field(description="the prompt and output, resolved (LLM and tool steps)")


class DeltaOut(BaseModel):
    input_tokens: int = Field(description="B − A")
    output_tokens: int = Field(description="B − A")
    cost_usd: float | None = Field(description="B − A; null when either side has an unpriced call")
    latency_ms: float | None = Field(description="B − A; null when either side has no times")


class StepPairOut(BaseModel):
    position: int = Field(description="the place in the aligned sequence")
    state: Literal["same", "changed", "only_a", "only_b"]
    changes: list[Change] = Field(description="what differs in a changed pair")
    a: StepSideOut | None = Field(description="run A's step (null: only B has one here)")
    b: StepSideOut | None = Field(description="run B's step (null: only A has one here)")
    delta: DeltaOut | None = Field(description="B − A for a pair (null when one side is missing)")


class DivergenceOut(BaseModel):
    position: int
    state: Literal["changed", "only_a", "only_b"]
    changes: list[Change]
    a_key: str | None
    a_index: int | None
    b_key: str | None
    b_index: int | None
    reason: str = Field(description="why, in words: 'llm gpt-4o-mini: the output differs'")


class TotalsOut(BaseModel):
    steps: int
    input_tokens: int
    output_tokens: int
    cost_usd: float = Field(description="the priced calls, added")
    unpriced_steps: int = Field(description="model calls without a known price (not in cost_usd)")
    latency_ms: float = Field(description="the steps' own times, added")
    duration_ms: float | None = Field(description="first step's start to last step's end")


class RunFactsOut(BaseModel):
    run_id: str
    agent: str | None
    version: str | None
    status: str | None
    answer: str | None
    input: str | None = Field(description="the first user message")
    usage: UsageOut
    fork: dict[str, Any] | None = Field(description="for a fork: parent_run_id, at_step and overrides")
    totals: TotalsOut


class SpecChangeOut(BaseModel):
    path: str = Field(description="the field, e.g. system_prompt or tools[issue_refund].requires_approval")
    kind: Literal["added", "removed", "changed"]
    old: Any
    new: Any


class RunDiffOut(BaseModel):
    a: RunFactsOut
    b: RunFactsOut
    identical: bool = Field(description="every step the same, and the same answer and status")
    steps: list[StepPairOut] = Field(description="both runs' steps, aligned")
    diverged_at: DivergenceOut | None = Field(description="the first position where they differ; null if none")
    delta: DeltaOut = Field(description="the runs' totals, B − A")
    spec_changes: list[SpecChangeOut] = Field(description="the spec of A → the spec of B")
    answer_changed: bool
    input_changed: bool
    counts: dict[str, int] = Field(description="pairs per state: same, changed, only_a, only_b")


@router.get("/api/agent-runs/diff", response_model=RunDiffOut,
            responses=errors((404, "No run of that id in this project (the message names it)"), 422,
                             (503, "Temporal is not reachable (yet): retry after Retry-After seconds")))
async def diff_runs(a: RunQuery, b: RunQuery, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Two runs side by side: steps aligned, where they first diverge and why, prompts and outputs, token, cost
    and latency deltas (B − A), and what changed in the spec."""
    diff = await diff_agent_runs(services.agent_runs, services.agent_blobs, principal.project_id, a, b)
    return diff.to_dict()
