"""The documented answers of the agent-runs API (what the OpenAPI document says a client gets back)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ForkOut(BaseModel):
    parent_run_id: str = Field(description="the run this one was forked from")
    at_step: int = Field(description="the parent's steps before this index were reused, not run again")
    overrides: dict[str, Any] = Field(description="what the fork changed: system_prompt, model, provider, "
                                                  "parameters, tools, version, input")


class RunOut(BaseModel):
    run_id: str
    trace_id: str
    agent: str | None
    version: str | None
    status: str = Field(description="running, waiting, awaiting_approval, paused, completed, failed, cancelled, "
                                    "or stopped (a budget ran out)")
    pending_approvals: int = 0
    started_at: str | None = None
    closed_at: str | None = None
    fork: ForkOut | None = Field(default=None, description="the lineage of a fork; null for other runs")


class RunList(BaseModel):
    runs: list[RunOut]
    next_page_token: str | None = Field(description="pass as page_token for the next page; null at the end")


class StepOut(BaseModel):
    key: str = Field(description="'{turn}.{index}': stable across retries and replays")
    index: int
    turn: int
    kind: str = Field(description="llm, tool, guardrail or approval")
    name: str
    status: str = Field(description="running, ok, error, blocked or rejected")
    started_ns: int
    ended_ns: int
    attempt: int = Field(description="the attempt that produced the result (retries are Temporal's)")
    summary: str
    input_ref: str | None = None
    output_ref: str | None = Field(default=None, description="the stored message or tool result (agent blobs)")
    tool_call_id: str | None = None
    arguments: dict[str, Any] | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    error: str | None = None


class ApprovalOut(BaseModel):
    call_id: str
    step_key: str
    tool: str
    arguments: dict[str, Any]
    reason: str = Field(description="what the model said before asking for the call")
    requested_ns: int
    deadline_ns: int
    decision: str | None = Field(description="approved, rejected, or null while waiting")
    decided_by: str | None = None
    decided_reason: str | None = None
    decided_ns: int | None = None
    timed_out: bool = False


class PendingApprovalOut(ApprovalOut):
    run_id: str
    agent: str
    version: str


class ApprovalList(BaseModel):
    approvals: list[PendingApprovalOut]


class UsageOut(BaseModel):
    steps: int
    llm_calls: int
    tool_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    unpriced_calls: int


class BudgetsOut(BaseModel):
    max_steps: int | None
    max_tokens: int | None
    max_cost_usd: float | None
    max_wall_seconds: float | None


class RunDetail(RunOut):
    turn: int = Field(description="turns completed")
    steps: list[StepOut] = Field(description="the steps of the current history (earlier ones are counted)")
    earlier_step_count: int
    approvals: list[ApprovalOut]
    usage: UsageOut
    budgets: BudgetsOut
    answer: str | None = Field(description="the last turn's answer")
    error: str | None = None
    paused: bool = False


class MessageQueued(BaseModel):
    run_id: str
    queued: int = Field(description="messages waiting in the run, this one included")


class ActionDone(BaseModel):
    run_id: str
    action: str
