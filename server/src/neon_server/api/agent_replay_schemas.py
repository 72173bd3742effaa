"""The documented answer of `GET /api/agent-runs/{run_id}/replay`: a run step by step, from its history."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from neon_server.api.agent_run_schemas import BudgetsOut, UsageOut


class ReplayApprovalOut(BaseModel):
    call_id: str
    decision: str | None = Field(description="approved, rejected, or null when not decided in this history")
    by: str | None = None
    reason: str | None = Field(default=None, description="the decider's reason")
    requested_ns: int | None = None
    decided_ns: int | None = None
    timed_out: bool = Field(default=False, description="nobody decided in time: the spec's on_timeout decided")


class ReplayStepOut(BaseModel):
    index: int
    key: str = Field(description="'{turn}.{index}', as the workflow numbered the step")
    turn: int
    kind: str = Field(description="llm, tool or guardrail")
    name: str = Field(description="the model, the tool, or the guardrail stage (input, output)")
    status: str = Field(description="ok, error, blocked, rejected, running (no outcome yet), or unrecorded (a "
                                    "check run inside the workflow whose verdict the history does not hold)")
    started_ns: int
    ended_ns: int
    attempt: int
    local: bool = Field(description="ran inside the workflow with no activity (guardrails that need no model)")
    note: str = ""
    input: dict[str, Any] | None = Field(
        description="llm: model, system_prompt, tools, conversation_upto (the model was sent messages[:n]) and "
                    "new_messages (the user's, stored by this call); tool: call_id, tool, arguments; "
                    "guardrail: stage, rules, text")
    output: dict[str, Any] | None = Field(
        description="llm: text, tool_calls, tokens, cost_usd, message (the assistant message); tool: ok, "
                    "preview, error, result (the tool message the model got); guardrail: passed, verdicts, text")
    error: str | None = None
    usage_after: UsageOut = Field(description="the run's usage once this step was done")
    approval: ReplayApprovalOut | None = None


class ReplayMessageOut(BaseModel):
    index: int
    ref: str
    message: dict[str, Any] | None = Field(description="the message; null if its blob is gone")


class ReplayEventOut(BaseModel):
    kind: str = Field(description="message (a user message), pause, resume, close or cancel")
    at_ns: int
    text: str | None = None
    by: str | None = None


class RunReplay(BaseModel):
    run_id: str
    agent: str
    version: str
    status: str = Field(description="as the history ends: completed, stopped, failed, cancelled, continued "
                                    "(continued as new: a later history goes on), or running")
    answer: str | None
    error: str | None
    deterministic: bool = Field(description="the history replays against this server's workflow code")
    problem: str | None = Field(description="why it does not (the non-determinism error), else null")
    input: str | None = Field(description="the run's first message (null after a continue-as-new)")
    variables: dict[str, str]
    budgets: BudgetsOut
    usage: UsageOut
    earlier_step_count: int = Field(description="steps in the histories before a continue-as-new (not listed)")
    messages: list[ReplayMessageOut] = Field(description="the conversation as it last stood, in order")
    events: list[ReplayEventOut]
    steps: list[ReplayStepOut]
    missing_blobs: list[str] = Field(description="refs whose blobs were not found (their values are null)")
