"""What a fork reuses: the recorded steps and user messages of a parent run, read from its Temporal history.

An activity's scheduled event carries its input (with the step key); its completed, failed or timed-out event
names the scheduled event it answers. Approval decisions and later user messages are the accepted
`decide_approval` and `send_message` updates. Payloads are decoded with the default converter, as the worker
encoded them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from temporalio.api.common.v1 import Payloads
from temporalio.api.history.v1 import HistoryEvent
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError

from neon.execute import shared as s

_KINDS = {s.LLM_CALL: ("llm", s.LLMCallResult), s.TOOL_CALL: ("tool", s.ToolCallResult),
          s.GUARDRAILS: ("guardrail", s.GuardrailOutput)}
_CONVERTER = DataConverter.default


def _decode(payloads: Payloads, kind: type[Any]) -> Any:
    [value] = _CONVERTER.payload_converter.from_payloads(list(payloads.payloads), [kind])
    return value


def run_input(events: Iterable[HistoryEvent]) -> s.RunInput:
    """The input the run was started (or continued as new) with."""
    for event in events:
        if event.HasField("workflow_execution_started_event_attributes"):
            decoded: s.RunInput = _decode(event.workflow_execution_started_event_attributes.input, s.RunInput)
            return decoded
    raise ValueError("the history has no start event")


def user_messages(events: Iterable[HistoryEvent]) -> list[str]:
    """The user message of each turn, in order: the run's input, then the accepted `send_message` updates."""
    messages: list[str] = []
    for event in events:
        if event.HasField("workflow_execution_started_event_attributes"):
            first = _decode(event.workflow_execution_started_event_attributes.input, s.RunInput).input
            if first is not None:
                messages.append(first)
        elif event.HasField("workflow_execution_update_accepted_event_attributes"):
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request.input
            if request.name == s.SEND_MESSAGE:
                messages.append(_decode(request.args, s.UserMessage).text)
    return messages


def recorded_steps(events: Iterable[HistoryEvent]) -> list[s.RecordedStep]:
    """Every step of the history that finished with a recorded result, in step order."""
    scheduled: dict[int, tuple[str, str]] = {}  # scheduled event id → (activity name, step key)
    steps: dict[str, s.RecordedStep] = {}
    decisions: list[s.Decision] = []
    for event in events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attributes = event.activity_task_scheduled_event_attributes
            name = attributes.activity_type.name
            if name in _KINDS:
                key = json.loads(attributes.input.payloads[0].data)["step_key"]
                scheduled[event.event_id] = (name, key)
        elif event.HasField("activity_task_completed_event_attributes"):
            done = event.activity_task_completed_event_attributes
            if done.scheduled_event_id in scheduled:
                name, key = scheduled[done.scheduled_event_id]
                kind, result_type = _KINDS[name]
                step = steps.setdefault(key, s.RecordedStep(key=key, kind=kind))
                setattr(step, kind, _decode(done.result, result_type))
        elif event.HasField("activity_task_failed_event_attributes") or \
                event.HasField("activity_task_timed_out_event_attributes"):
            failed = (event.activity_task_failed_event_attributes
                      if event.HasField("activity_task_failed_event_attributes")
                      else event.activity_task_timed_out_event_attributes)
            if failed.scheduled_event_id in scheduled:
                name, key = scheduled[failed.scheduled_event_id]
                step = steps.setdefault(key, s.RecordedStep(key=key, kind=_KINDS[name][0]))
                step.failure = failure_message(failed.failure)
        elif event.HasField("workflow_execution_update_accepted_event_attributes"):
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request.input
            if request.name == s.DECIDE_APPROVAL:
                decisions.append(_decode(request.args, s.Decision))
    for decision in decisions:  # a decision names the call by its id or its step key
        target = steps.get(decision.call_id) or _tool_step_of_call(steps, decision.call_id)
        if target is None:  # the call was rejected: no tool activity ran, only the decision is recorded
            key = _step_key_of_call(steps, decision.call_id) or decision.call_id
            target = steps.setdefault(key, s.RecordedStep(key=key, kind="tool"))
        target.decision = decision
    return sorted(steps.values(), key=lambda step: step.index)


def _tool_step_of_call(steps: dict[str, s.RecordedStep], call_id: str) -> s.RecordedStep | None:
    key = _step_key_of_call(steps, call_id)
    return steps.get(key) if key else None


def _step_key_of_call(steps: dict[str, s.RecordedStep], call_id: str) -> str | None:
    """The key of the tool step that ran call `call_id`: the LLM step that asked for it, plus its position."""
    for step in steps.values():
        if step.llm is None:
            continue
        for position, call in enumerate(step.llm.tool_calls, start=1):
            if call.id == call_id:
                turn, index = step.key.split(".")
                return f"{turn}.{int(index) + position}"
    return None


def failure_message(failure: Any) -> str:
    """The innermost message of a failed activity, as the workflow words it (`workflows._cause`)."""
    error: BaseException = _CONVERTER.failure_converter.from_failure(failure, _CONVERTER.payload_converter)
    while error.__cause__ is not None:
        error = error.__cause__
    if isinstance(error, ApplicationError):
        kind = f"{error.type}: " if error.type and error.type not in error.message else ""
        return f"{kind}{error.message}"
    return str(error)
