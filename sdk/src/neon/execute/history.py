"""A run's timeline from its Temporal history: what happened at each step, as it was then. Pure: no I/O.

    timeline = timeline_of(await handle.fetch_history())   # or WorkflowHistory.from_json(...)
    for step in timeline.steps: print(step.key, step.kind, step.status, step.usage_after)

The history of the agent-run workflow (`workflows.py`) holds the run's input (its first event: the spec, the
first message), every activity with its input and result (LLM calls, tool calls, guardrail checks that need a
model, blob writes), the updates (user messages, approval decisions) and signals (pause, resume, close). From
those this module rebuilds the steps in the order the workflow numbered them (`step_key` in each activity's
input), and the usage after each step, counted the way the workflow counts it, against the spec's budgets.

What the history does not hold, and how it shows here:
- Conversation messages and tool results are blob refs (`sha256:…`): resolve them through the blob store (the
  server's replay does). The conversation only grows, so an LLM step's messages are the first
  `conversation_upto` refs of `RunTimeline.conversation`, plus the user's message not stored yet (`new_messages`).
- Guardrail rules that need no model (pii, regex, max_length…) run inside the workflow without an activity, so
  their verdicts are not recorded. Their steps appear with `local=True` where the workflow numbered them: an input
  check passed when the turn went on to the model (the text the model got, redacted, is the LLM step's new
  message); an output check's verdict is known for the run's last answer only (from the run's result).
- A tool call refused before it ran (rejected, bad arguments, unknown tool) has no tool activity: the error the
  model was told is stored with a blob write, which is how its step is found here.
- A continued-as-new run has one history per stretch: this is the latest; `RunTimeline.earlier_step_count` says
  how many steps the earlier ones held, and the usage starts from what they spent.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter, PayloadConverter

from neon.execute import shared as s

StepKind = Literal["llm", "tool", "guardrail"]
StepInput = s.LLMCallInput | s.ToolCallInput | s.GuardrailInput
StepOutput = s.LLMCallResult | s.ToolCallResult | s.GuardrailOutput
INPUTS: dict[str, type] = {s.LLM_CALL: s.LLMCallInput, s.TOOL_CALL: s.ToolCallInput,
                           s.GUARDRAILS: s.GuardrailInput, s.PUT_BLOBS: s.PutBlobsInput}
OUTPUTS: dict[str, Any] = {s.LLM_CALL: s.LLMCallResult, s.TOOL_CALL: s.ToolCallResult,
                           s.GUARDRAILS: s.GuardrailOutput, s.PUT_BLOBS: list[str]}
KINDS: dict[str, StepKind] = {s.LLM_CALL: "llm", s.TOOL_CALL: "tool", s.GUARDRAILS: "guardrail"}


class HistoryError(ValueError):
    """The history is not one of an agent run (or is cut before its first event)."""


@dataclass
class TimelineApproval:
    """A human decision on a tool call, as the `decide_approval` update recorded it (or the timeout policy)."""

    call_id: str
    decision: str | None                 # approved | rejected | None: not decided in this history
    by: str | None = None
    reason: str | None = None            # the decider's reason
    requested_ns: int | None = None
    decided_ns: int | None = None
    timed_out: bool = False


@dataclass
class TimelineStep:
    index: int
    key: str                             # "{turn}.{index}", as the workflow numbered it
    turn: int
    kind: StepKind
    name: str                            # the model, the tool, or the guardrail stage (input | output)
    status: str                          # ok | error | blocked | rejected | running (no outcome in this history)
    started_ns: int = 0
    ended_ns: int = 0
    attempt: int = 1
    input: StepInput | None = None       # the activity's input, as recorded
    output: StepOutput | None = None     # its result
    error: str | None = None
    call: s.ToolCallRequest | None = None  # tool steps: the call the model asked for
    stored_result_ref: str | None = None  # a refused or failed call: the error message the model was told
    approval: TimelineApproval | None = None
    conversation_upto: int | None = None  # llm steps: how many refs of the conversation the model was sent
    local: bool = False                  # ran inside the workflow (no activity): see the module's docstring
    note: str = ""
    usage_after: s.Usage = field(default_factory=s.Usage)


@dataclass
class RunEvent:
    """Something from outside between steps: a user message, pause, resume, close, cancel."""

    kind: str                            # message | pause | resume | close | cancel
    at_ns: int
    text: str | None = None
    by: str | None = None


@dataclass
class RunTimeline:
    run: s.RunInput
    steps: list[TimelineStep]
    events: list[RunEvent]
    budgets: s.Budgets
    usage: s.Usage                       # after the last step
    status: str                          # completed | stopped | failed | cancelled | continued | running
    answer: str | None
    error: str | None
    conversation: list[str]              # every message ref of the conversation, in order (as it last stood)
    earlier_step_count: int = 0          # steps in the histories before a continue-as-new

    def step(self, key_or_index: str | int) -> TimelineStep:
        for step in self.steps:
            if key_or_index in (step.key, step.index, str(step.index)):
                return step
        raise KeyError(f"no step {key_or_index!r} in this run (steps: {', '.join(s.key for s in self.steps)})")


def _ns(event: HistoryEvent) -> int:
    return int(event.event_time.ToNanoseconds())


def _message(failure: Failure) -> str:
    """The innermost message of a failure, with its error type (as the workflow tells the model and the trace)."""
    while failure.HasField("cause"):
        failure = failure.cause
    kind = failure.application_failure_info.type if failure.HasField("application_failure_info") else ""
    return f"{kind}: {failure.message}" if kind and kind not in failure.message else failure.message


def _usage_of(spec: dict[str, Any]) -> s.Budgets:
    budgets = spec.get("budgets") or {}
    return s.Budgets(**{name: budgets.get(name) for name in ("max_steps", "max_tokens", "max_cost_usd",
                                                             "max_wall_seconds")})


class _Builder:
    def __init__(self, converter: PayloadConverter) -> None:
        self.converter = converter
        self.run: s.RunInput | None = None
        self.steps: dict[int, TimelineStep] = {}
        self.events: list[RunEvent] = []
        self.scheduled: dict[int, tuple[str, Any, TimelineStep | None]] = {}  # event id → (activity, input, step)
        self.attempts: dict[int, int] = {}
        self.approvals: dict[str, TimelineApproval] = {}  # by step key
        self.updates: dict[str, tuple[str, Any]] = {}     # update id → (name, argument)
        self.usage = s.Usage()
        self.conversation: list[str] = []
        self.asked: dict[str, tuple[int, int]] = {}        # tool call id → (llm step index, position)
        self.status: str = "running"
        self.answer: str | None = None
        self.error: str | None = None
        self.end_ns = 0

    def decode(self, payloads: Any, hint: Any) -> Any:
        values = self.converter.from_payloads(list(payloads.payloads), [hint])
        return values[0] if values else None

    # ------------------------------------------------------------------ events
    def add(self, event: HistoryEvent) -> None:  # noqa: PLR0912 - one branch per kind of event
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            self.started(event)
        elif self.run is None:
            raise HistoryError("the history does not start with the run's input (WorkflowExecutionStarted)")
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            self.scheduled_activity(event)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            self.attempts[started.scheduled_event_id] = started.attempt
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            self.completed(done.scheduled_event_id, done.result, event)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failed = event.activity_task_failed_event_attributes
            self.failed(failed.scheduled_event_id, _message(failed.failure), event)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            late = event.activity_task_timed_out_event_attributes
            self.failed(late.scheduled_event_id, "timed out: " + _message(late.failure), event)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            self.update_accepted(request.meta.update_id, request.input.name, request.input.args, event)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            update = event.workflow_execution_update_completed_event_attributes
            name, _ = self.updates.get(update.meta.update_id, ("", None))
            if name == s.DECIDE_APPROVAL and update.outcome.HasField("success"):
                approval: s.Approval = self.decode(update.outcome.success, s.Approval)
                self.approvals[approval.step_key] = TimelineApproval(
                    call_id=approval.call_id, decision=approval.decision, by=approval.decided_by,
                    reason=approval.decided_reason, requested_ns=approval.requested_ns,
                    decided_ns=approval.decided_ns, timed_out=approval.timed_out)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            self.events.append(RunEvent(event.workflow_execution_signaled_event_attributes.signal_name, _ns(event)))
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
            self.events.append(RunEvent("cancel", _ns(event)))
        else:
            self.closed(event)

    def started(self, event: HistoryEvent) -> None:
        attributes = event.workflow_execution_started_event_attributes
        if attributes.workflow_type.name != s.WORKFLOW:
            raise HistoryError(f"a history of workflow {attributes.workflow_type.name!r}, not of an agent run "
                               f"({s.WORKFLOW})")
        self.run = self.decode(attributes.input, s.RunInput)
        if self.run.state is not None:  # continued as new: the earlier stretches' spending and conversation
            self.usage = copy.deepcopy(self.run.state.usage)
            self.conversation = list(self.run.state.message_refs)
        self.end_ns = _ns(event)

    def closed(self, event: HistoryEvent) -> None:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            result: s.RunResult = self.decode(event.workflow_execution_completed_event_attributes.result,
                                              s.RunResult)
            self.status, self.answer, self.error = result.status, result.answer, result.error
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            self.status = s.FAILED
            self.error = event.workflow_execution_failed_event_attributes.failure.message
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
            self.status, self.error = s.CANCELLED, "cancelled"
        elif kind in (EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
                      EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT):
            self.status, self.error = s.FAILED, EventType.Name(kind).removeprefix("EVENT_TYPE_").lower()
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            self.status = "continued"
        else:
            return
        self.end_ns = _ns(event)

    def update_accepted(self, update_id: str, name: str, args: Any, event: HistoryEvent) -> None:
        if name == s.SEND_MESSAGE:
            message: s.UserMessage = self.decode(args, s.UserMessage)
            self.events.append(RunEvent("message", _ns(event), text=message.text, by=message.by))
            self.updates[update_id] = (name, message)
        elif name == s.DECIDE_APPROVAL:
            self.updates[update_id] = (name, self.decode(args, s.Decision))

    # ------------------------------------------------------------------ activities
    def scheduled_activity(self, event: HistoryEvent) -> None:
        attributes = event.activity_task_scheduled_event_attributes
        name = attributes.activity_type.name
        if name not in INPUTS:
            return  # span writes: not steps
        value = self.decode(attributes.input, INPUTS[name])
        step: TimelineStep | None = None
        if isinstance(value, s.PutBlobsInput):
            step = self.refused_call(value, event)
        else:
            turn, index = (int(part) for part in value.step_key.split("."))
            step = TimelineStep(index=index, key=value.step_key, turn=turn, kind=KINDS[name], name="",
                                status="running", started_ns=_ns(event), input=value)
            if isinstance(value, s.LLMCallInput):
                step.name = str(value.model.get("name", ""))
                step.conversation_upto = len(value.message_refs)
            elif isinstance(value, s.ToolCallInput):
                step.name, step.call = value.call.name, value.call
            else:
                step.name = value.stage
            self.steps[index] = step
        self.scheduled[event.event_id] = (name, value, step)

    def refused_call(self, value: s.PutBlobsInput, event: HistoryEvent) -> TimelineStep | None:
        """A blob write of one tool message is the result of a call that did not run (or whose tool failed)."""
        if len(value.values) != 1 or not isinstance(value.values[0], dict) or value.values[0].get("role") != "tool":
            return None
        message = value.values[0]
        asked = self.asked.get(str(message.get("tool_call_id")))
        if asked is None:
            return None
        llm_index, position = asked
        llm = self.steps[llm_index]
        assert isinstance(llm.output, s.LLMCallResult)
        index = llm_index + 1 + position
        step = self.steps.get(index)
        if step is None:  # never ran: rejected, bad arguments, an unknown tool
            call = llm.output.tool_calls[position]
            step = self.steps[index] = TimelineStep(
                index=index, key=f"{llm.turn}.{index}", turn=llm.turn, kind="tool", name=call.name,
                status="error", started_ns=_ns(event), ended_ns=_ns(event), call=call,
                error=str(message.get("content", "")).removeprefix("error: "))
            self.count_tool(step)
        return step

    def completed(self, scheduled_id: int, result: Any, event: HistoryEvent) -> None:
        if scheduled_id not in self.scheduled:
            return
        name, _, step = self.scheduled[scheduled_id]
        output = self.decode(result, OUTPUTS[name])
        if step is None:
            return
        if name == s.PUT_BLOBS:
            step.stored_result_ref = output[0]
            self.conversation.append(output[0])
            return
        step.attempt = self.attempts.get(scheduled_id, 1)
        step.output, step.ended_ns = output, _ns(event)
        if isinstance(output, s.LLMCallResult):
            step.status, step.attempt = "ok", output.attempt
            step.started_ns, step.ended_ns = output.started_ns or step.started_ns, output.ended_ns or step.ended_ns
            self.conversation.extend([*output.new_refs, output.message_ref])
            for position, call in enumerate(output.tool_calls):
                self.asked[call.id] = (step.index, position)
            usage = self.usage
            usage.steps, usage.llm_calls = usage.steps + 1, usage.llm_calls + 1
            usage.input_tokens += output.input_tokens
            usage.output_tokens += output.output_tokens
            if output.cost_usd is None:
                usage.unpriced_calls += 1
            else:
                usage.cost_usd += output.cost_usd
            step.usage_after = copy.deepcopy(usage)
        elif isinstance(output, s.ToolCallResult):
            step.status, step.error, step.attempt = ("ok" if output.ok else "error"), output.error, output.attempt
            step.started_ns, step.ended_ns = output.started_ns or step.started_ns, output.ended_ns or step.ended_ns
            self.conversation.append(output.result_ref)
            self.count_tool(step)
        elif isinstance(output, s.GuardrailOutput):
            step.status = "ok" if output.passed else "blocked"
            step.usage_after = copy.deepcopy(self.usage)

    def failed(self, scheduled_id: int, message: str, event: HistoryEvent) -> None:
        if scheduled_id not in self.scheduled:
            return
        _, _, step = self.scheduled[scheduled_id]
        if step is None:
            return
        step.status, step.error, step.ended_ns = "error", message, _ns(event)
        step.attempt = self.attempts.get(scheduled_id, step.attempt)
        if step.kind == "tool":
            self.count_tool(step)  # the workflow counts a failed call (the model is told why)
        else:
            step.usage_after = copy.deepcopy(self.usage)

    def count_tool(self, step: TimelineStep) -> None:
        self.usage.steps, self.usage.tool_calls = self.usage.steps + 1, self.usage.tool_calls + 1
        step.usage_after = copy.deepcopy(self.usage)

    # ------------------------------------------------------------------ what the history does not record
    def finish(self) -> RunTimeline:
        assert self.run is not None
        spec = self.run.spec
        self.attach_approvals(spec)
        self.local_guardrails(spec)
        steps = [self.steps[index] for index in sorted(self.steps)]
        state = self.run.state
        return RunTimeline(run=self.run, steps=steps, events=self.events, budgets=_usage_of(spec),
                           usage=self.usage, status=self.status, answer=self.answer, error=self.error,
                           conversation=self.conversation,
                           earlier_step_count=state.earlier_step_count if state else 0)

    def attach_approvals(self, spec: dict[str, Any]) -> None:
        needs = {tool["name"] for tool in spec.get("tools", []) if tool.get("requires_approval")}
        approval = spec.get("approval") or {}
        policy = approval.get("on_timeout", "reject")
        why = f"no decision within {float(approval.get('timeout', 0)):g} s (on_timeout: {policy})"
        for step in self.steps.values():
            if step.kind != "tool" or step.name not in needs:
                continue
            step.approval = self.approvals.get(step.key)
            call_id = step.call.id if step.call else ""
            if step.approval is None and step.status != "running":  # no decision recorded: the timeout policy
                step.approval = TimelineApproval(call_id=call_id, decision="approved" if policy == "approve"
                                                 else "rejected", by="timeout policy", reason=why,
                                                 decided_ns=step.started_ns if step.input is None else None,
                                                 timed_out=True)
            if step.approval is not None and step.approval.decision == "rejected":
                step.status = "rejected"

    def local_guardrails(self, spec: dict[str, Any]) -> None:
        """Steps the workflow numbered but ran without an activity: guardrails that need no model."""
        guardrails = spec.get("guardrails") or {}
        present = sorted(self.steps)
        if not present:
            return
        first = self.run.state.next_index if self.run and self.run.state else 0
        for index in range(first, present[-1] + 2):
            if index in self.steps:
                continue
            after = self.steps.get(index + 1)
            before = self.steps.get(index - 1)  # a guardrail just filled in counts: two checks in a row
            answered = before is not None and before.kind == "llm" and isinstance(before.output, s.LLMCallResult) \
                and not before.output.tool_calls
            if answered and guardrails.get("output") and before is not None:
                last = index > present[-1]  # the run's last answer: its result tells
                blocked = last and (self.error or "").startswith("answer withheld")
                self.steps[index] = TimelineStep(
                    index=index, key=f"{before.turn}.{index}", turn=before.turn, kind="guardrail", name="output",
                    status="blocked" if blocked else "ok" if last else "unrecorded", local=True,
                    started_ns=before.ended_ns, ended_ns=before.ended_ns, usage_after=copy.deepcopy(
                        before.usage_after), error=self.error if blocked else None,
                    note="checked in the workflow (no model needed): the verdict is not in the history" +
                         ("; the run's result tells it" if last else ""))
            elif after is not None and guardrails.get("input"):
                passed = after.kind == "llm"
                self.steps[index] = TimelineStep(
                    index=index, key=f"{after.turn}.{index}", turn=after.turn, kind="guardrail", name="input",
                    status="ok" if passed else "unrecorded", local=True, started_ns=after.started_ns,
                    ended_ns=after.started_ns,
                    usage_after=copy.deepcopy(before.usage_after) if before else copy.deepcopy(
                        self.run.state.usage if self.run and self.run.state else s.Usage()),
                    note="checked in the workflow (no model needed): passed, the turn went on to the model with "
                         "the text in the next LLM step's new message (after any redaction)")


def timeline_of(history: WorkflowHistory, *, converter: DataConverter | None = None) -> RunTimeline:
    """The timeline of one agent-run history. `converter`: the workflow client's (the default JSON one)."""
    builder = _Builder((converter or DataConverter.default).payload_converter)
    for event in history.events:
        builder.add(event)
    if builder.run is None:
        raise HistoryError("the history is empty: no WorkflowExecutionStarted event")
    return builder.finish()
