"""What crosses the boundary of the agent-run workflow: small, JSON-serialisable dataclasses and names.

The workflow (`workflows.py`) keeps only these in Temporal history. Conversation messages and tool results
live in the blob store and travel as refs (`sha256:<hex>`), so history grows by a few hundred bytes a step.
Everything here is plain data: the workflow sandbox imports this module, so it does no I/O.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

WORKFLOW = "neon.agent_run"

# Activity names (stable: they are recorded in histories that replay tests keep)
LLM_CALL = "neon.llm_call"
TOOL_CALL = "neon.tool_call"
GUARDRAILS = "neon.guardrails"
PUT_BLOBS = "neon.put_blobs"
EMIT_SPANS = "neon.emit_spans"

# Signals, updates and the query
PAUSE, RESUME, CLOSE = "pause", "resume", "close"
SEND_MESSAGE, DECIDE_APPROVAL = "send_message", "decide_approval"
PROGRESS = "progress"

# Search attributes: registered on the dev server at start, by `neon worker --setup` on a cluster
SA_PROJECT = "NeonProject"
SA_AGENT = "NeonAgent"
SA_VERSION = "NeonAgentVersion"
SA_STATUS = "NeonRunStatus"
SA_PENDING = "NeonPendingApprovals"
SA_FORK_OF = "NeonForkOf"  # the run a fork was forked from (so a run's forks can be listed)

# Run statuses (NeonRunStatus). A run is `waiting` between turns, `awaiting_approval` while a call waits.
RUNNING, WAITING, AWAITING_APPROVAL, PAUSED = "running", "waiting", "awaiting_approval", "paused"
COMPLETED, FAILED, CANCELLED, STOPPED = "completed", "failed", "cancelled", "stopped"  # stopped: a budget


def trace_id_for(run_id: str) -> str:
    """The trace of a run: derived from the run id, so every worker and every replay agrees on it."""
    return hashlib.sha256(f"neon-run:{run_id}".encode()).hexdigest()[:32]


def span_id_for(run_id: str, step_key: str, kind: str) -> str:
    """The span of one step: the same for every attempt and replay of that step."""
    return hashlib.sha256(f"{run_id}/{step_key}/{kind}".encode()).hexdigest()[:16]


def blob_ref(value: Any) -> str:
    """The content address of a JSON value (canonical form: sorted keys, no spaces)."""
    return "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class Connection:
    """How activities reach Neon: its URL and the run token that lets them write this project's run data."""

    neon_url: str
    run_token: str


@dataclass
class Budgets:
    max_steps: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    max_wall_seconds: float | None = None


@dataclass
class Usage:
    steps: int = 0
    llm_calls: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0


@dataclass
class ToolCallRequest:
    """A call the model asked for. `arguments_error` is set when the model's arguments were not JSON."""

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    arguments_error: str | None = None


@dataclass
class LLMCallInput:
    connection: Connection
    run_id: str
    step_key: str
    model: dict[str, Any]                   # the spec's model: provider, name, base_url, parameters
    system_prompt: str
    message_refs: list[str]                 # the conversation so far, by reference
    tools: list[dict[str, Any]]             # name, description, parameters (JSON Schema)
    stream: bool = True
    new_messages: list[dict[str, Any]] = field(default_factory=list)  # not stored yet (the user's): stored first


@dataclass
class LLMCallResult:
    message_ref: str                        # the assistant message, stored
    text: str
    tool_calls: list[ToolCallRequest]
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None           # None: no known price
    finish_reason: str | None = None
    started_ns: int = 0
    ended_ns: int = 0
    attempt: int = 1
    time_to_first_token_ms: float | None = None
    input_preview: str = ""                 # JSON of the messages sent (system and the newest), cut short
    new_refs: list[str] = field(default_factory=list)  # refs of the input's new_messages, now stored


@dataclass
class ToolCallInput:
    connection: Connection
    run_id: str
    step_key: str
    tool: dict[str, Any]                    # the spec's tool
    call: ToolCallRequest


@dataclass
class ToolCallResult:
    result_ref: str                         # the tool message for the model, stored
    preview: str                            # the result, cut for summaries
    ok: bool = True
    error: str | None = None
    started_ns: int = 0
    ended_ns: int = 0
    attempt: int = 1


@dataclass
class GuardrailInput:
    connection: Connection
    run_id: str
    step_key: str
    stage: str                              # input | output
    rules: list[dict[str, Any]]
    text: str
    judge_model: dict[str, Any] | None = None


@dataclass
class GuardrailVerdict:
    rule: str
    passed: bool
    reason: str = ""


@dataclass
class GuardrailOutput:
    passed: bool
    verdicts: list[GuardrailVerdict]
    text: str                               # the text after redaction rules
    started_ns: int = 0
    ended_ns: int = 0


@dataclass
class PutBlobsInput:
    connection: Connection
    values: list[Any]


@dataclass
class EmitSpansInput:
    connection: Connection
    spans: list[dict[str, Any]]             # native ingest spans (POST /api/traces/ingest), fully determined


@dataclass
class Step:
    """One step as the progress query and the trace show it."""

    key: str
    index: int
    turn: int
    kind: str                               # llm | tool | guardrail | approval
    name: str
    status: str                             # ok | error | blocked | approved | rejected | pending | running
    started_ns: int = 0
    ended_ns: int = 0
    attempt: int = 1
    summary: str = ""
    input_ref: str | None = None
    output_ref: str | None = None
    tool_call_id: str | None = None
    arguments: dict[str, Any] | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    error: str | None = None


@dataclass
class Approval:
    """A tool call waiting for (or given) a human decision."""

    call_id: str
    step_key: str
    tool: str
    arguments: dict[str, Any]
    reason: str                             # what the model said before asking
    requested_ns: int
    deadline_ns: int
    decision: str | None = None             # approved | rejected
    decided_by: str | None = None
    decided_reason: str | None = None
    decided_ns: int | None = None
    timed_out: bool = False


@dataclass
class Decision:
    call_id: str
    approved: bool
    by: str = ""
    reason: str = ""


@dataclass
class UserMessage:
    text: str
    by: str = ""


@dataclass
class RecordedStep:
    """One step of a parent run, as its history recorded it: what a fork reuses instead of calling again.
    One of `llm`, `tool`, `guardrail` or `failure` is set (none for a tool call that never ran, e.g. rejected);
    `decision` is the approval of a tool call that waited for one."""

    key: str                                # the step key, '{turn}.{index}'
    kind: str                               # llm | tool | guardrail
    llm: LLMCallResult | None = None
    tool: ToolCallResult | None = None
    guardrail: GuardrailOutput | None = None
    failure: str | None = None              # the activity failed: the message the workflow saw
    decision: Decision | None = None

    @property
    def index(self) -> int:
        return int(self.key.split(".")[1])


@dataclass
class ForkFrom:
    """A run that reuses the steps before `at_step` of `parent_run_id` and goes live from there."""

    parent_run_id: str
    at_step: int                            # steps with a smaller index are reused, not run
    recorded: list[RecordedStep] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # the user message of each turn, up to at_step's turn
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunState:
    """What a run carries across continue-as-new."""

    message_refs: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    next_index: int = 0
    turn: int = 0
    started_ns: int = 0
    earlier_steps_ref: str | None = None    # steps of earlier histories, stored as one blob
    earlier_step_count: int = 0
    answer: str | None = None               # the last turn's answer, still shown after continue-as-new


@dataclass
class RunInput:
    project_id: str
    run_id: str
    agent: str
    version: str
    spec: dict[str, Any]                    # AgentSpec.to_dict(): the version this run executes
    connection: Connection
    input: str | None = None                # the first user message (None when continuing as new)
    variables: dict[str, str] = field(default_factory=dict)
    stream: bool = True
    multi_turn: bool = True                 # stay open for the next message after an answer
    idle_timeout_seconds: float = 86_400.0  # a waiting run closes after this long without a message
    state: RunState | None = None
    fork: ForkFrom | None = None            # set on a fork (None decodes the histories of older runs)


@dataclass
class Progress:
    """The answer to the `progress` query."""

    run_id: str
    trace_id: str
    agent: str
    version: str
    status: str
    turn: int
    steps: list[Step]
    earlier_step_count: int
    approvals: list[Approval]
    usage: Usage
    budgets: Budgets
    answer: str | None = None               # the last final answer
    error: str | None = None
    paused: bool = False


@dataclass
class RunResult:
    status: str
    answer: str | None
    error: str | None
    usage: Usage
    turns: int
