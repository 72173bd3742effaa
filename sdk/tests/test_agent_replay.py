"""Recorded agent-run histories (sdk/tests/histories, made by `python -m server.tests.record_histories`) replay
against this workflow code, and their timelines say what happened at each step.

A failure of `test_recorded_histories_still_replay` after a change to `workflows.py` means runs started before
the change would break on the new workers: make the change compatible (or re-record on purpose: docs/agents.md).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory

from neon.execute import shared as s
from neon.execute.history import HistoryError, RunTimeline, timeline_of
from neon.execute.replay import check_history, replayer

HISTORIES = Path(__file__).parent / "histories"
SCENARIOS = sorted(path.stem for path in HISTORIES.glob("*.json"))


def history(name: str, edit: str | None = None) -> WorkflowHistory:
    text = (HISTORIES / f"{name}.json").read_text()
    return WorkflowHistory.from_json(name, text if edit is None else edit)


def timeline(name: str) -> RunTimeline:
    return timeline_of(history(name))


def shape(found: RunTimeline) -> list[tuple[str, str, str, str]]:
    return [(step.key, step.kind, step.name, step.status) for step in found.steps]


def test_every_scenario_is_recorded() -> None:
    assert set(SCENARIOS) >= {"tool_then_answer", "refund_approved", "refund_rejected", "approval_timeout",
                              "card_redacted", "multi_turn", "budget_stop", "llm_failure", "continued_as_new"}


def test_recorded_histories_still_replay() -> None:
    async def check_all() -> dict[str, str | None]:
        shared = replayer()
        return {name: await check_history(history(name), using=shared) for name in SCENARIOS}

    assert asyncio.run(check_all()) == dict.fromkeys(SCENARIOS)


def test_a_history_the_code_no_longer_matches_fails_with_the_reason() -> None:
    text = (HISTORIES / "tool_then_answer.json").read_text()
    assert text.count('"neon.tool_call"') == 1
    problem = asyncio.run(check_history(history("tool_then_answer",
                                                text.replace('"neon.tool_call"', '"neon.tool_lookup"'))))
    assert problem is not None
    assert problem.startswith("NondeterminismError: ")
    assert "'neon.tool_lookup' does not match activity type of activity command 'neon.tool_call'" in problem


def test_a_tool_call_then_an_answer() -> None:
    found = timeline("tool_then_answer")
    assert shape(found) == [("0.0", "guardrail", "input", "ok"), ("0.1", "llm", "gpt-4o-mini", "ok"),
                            ("0.2", "tool", "lookup_order", "ok"), ("0.3", "llm", "gpt-4o-mini", "ok"),
                            ("0.4", "guardrail", "output", "ok")]
    assert (found.status, found.answer) == (s.COMPLETED, "Order A1001 (kettle) is delivered, delivered on 2026-11-20.")
    assert found.run.input == "Where is my order A1001?"
    guard, first, tool, second, _ = found.steps
    assert guard.local
    assert not first.local
    # the first call: the system prompt as rendered, the user's message not stored yet, no earlier messages
    assert isinstance(first.input, s.LLMCallInput)
    assert isinstance(first.output, s.LLMCallResult)
    assert first.input.system_prompt.startswith("You are the support assistant of Acme")
    assert first.input.new_messages == [{"role": "user", "content": "Where is my order A1001?"}]
    assert first.conversation_upto == 0
    assert [call.name for call in first.output.tool_calls] == ["lookup_order"]
    assert {t["name"] for t in first.input.tools} == {"lookup_order", "lookup_policy", "issue_refund"}
    assert tool.call is not None
    assert tool.call.arguments == {"order_id": "A1001"}
    assert isinstance(tool.output, s.ToolCallResult)
    assert '"delivered_on": "2026-11-20"' in tool.output.preview
    # the second call saw the user's message, the model's call and the tool's result: a prefix of the conversation
    assert isinstance(second.input, s.LLMCallInput)
    assert second.conversation_upto == 3
    assert second.input.message_refs == found.conversation[:3]
    assert found.conversation[2] == tool.output.result_ref
    assert len(found.conversation) == 4
    # usage counted the workflow's way, step by step, within the spec's budgets
    assert [(st.usage_after.steps, st.usage_after.llm_calls, st.usage_after.tool_calls) for st in found.steps] == [
        (0, 0, 0), (1, 1, 0), (2, 1, 1), (3, 2, 1), (3, 2, 1)]
    assert first.output.input_tokens > 0
    assert found.usage.input_tokens == first.output.input_tokens + second.output.input_tokens  # type: ignore[union-attr]
    assert found.budgets == s.Budgets(max_steps=20, max_tokens=50000, max_cost_usd=0.5, max_wall_seconds=None)
    assert 0 < first.started_ns <= first.ended_ns <= tool.started_ns


def test_refund_approved_and_rejected() -> None:
    approved, rejected = timeline("refund_approved"), timeline("refund_rejected")
    refund = approved.step("0.2")
    assert (refund.kind, refund.name, refund.status) == ("tool", "issue_refund", "ok")
    assert refund.approval is not None
    assert (refund.approval.decision, refund.approval.by, refund.approval.reason) == ("approved", "ada",
                                                                                     "broken on arrival")
    assert approved.answer == "Done: refund R-A1001-3990 of 39.90 EUR is on its way."
    refused = rejected.step("0.2")
    assert (refused.status, refused.input) == ("rejected", None)  # the tool never ran
    assert refused.approval is not None
    assert refused.approval.decision == "rejected"
    assert refused.error == "the call was rejected by ada: outside the refund window"
    assert refused.stored_result_ref in rejected.conversation
    assert refused.usage_after.tool_calls == 1


def test_an_approval_nobody_gave_in_time_is_decided_by_the_policy() -> None:
    found = timeline("approval_timeout")
    assert found.budgets.max_steps == 20
    refund = found.step("0.2")
    assert (refund.name, refund.status, refund.input) == ("issue_refund", "rejected", None)
    assert refund.approval is not None
    assert (refund.approval.decision, refund.approval.by, refund.approval.timed_out) == ("rejected", "timeout policy",
                                                                                         True)
    assert refund.approval.reason == "no decision within 1 s (on_timeout: reject)"
    assert refund.error == "the call was rejected by timeout policy: no decision within 1 s (on_timeout: reject)"
    assert found.answer is not None
    assert found.answer.startswith("Sorry, that did not work: the call was rejected by timeout policy")


def test_an_input_guardrail_redaction_shows_in_what_the_model_got() -> None:
    found = timeline("card_redacted")
    assert found.run.input is not None
    assert "4111 1111 1111 1111" in found.run.input
    llm = found.step("0.1")
    assert isinstance(llm.input, s.LLMCallInput)
    [message] = llm.input.new_messages
    assert "[CREDIT_CARD]" in message["content"]
    assert "4111" not in message["content"]
    guard = found.step("0.0")
    assert (guard.kind, guard.name, guard.status, guard.local) == ("guardrail", "input", "ok", True)
    assert "no model needed" in guard.note


def test_a_multi_turn_run_closed_after_two_turns() -> None:
    found = timeline("multi_turn")
    assert [step.turn for step in found.steps] == [0] * 5 + [1] * 5
    assert shape(found)[4:6] == [("0.4", "guardrail", "output", "unrecorded"), ("1.5", "guardrail", "input", "ok")]
    assert [(event.kind, event.text, event.by) for event in found.events] == [
        ("message", "What is your refund policy?", "ada"), ("close", None, None)]
    second = found.step("1.6")
    assert isinstance(second.input, s.LLMCallInput)
    assert second.input.new_messages == [{"role": "user", "content": "What is your refund policy?"}]
    assert second.conversation_upto == 4  # the whole first turn
    assert found.status == s.COMPLETED
    assert found.usage.llm_calls == 4


def test_a_budget_stop_and_an_llm_failure() -> None:
    stopped = timeline("budget_stop")
    assert (stopped.status, stopped.error) == (s.STOPPED, "budget: 2 steps reached max_steps 2")
    assert stopped.budgets.max_steps == 2
    assert stopped.steps[-1].usage_after.steps == 2
    failed = timeline("llm_failure")
    assert failed.status == s.FAILED
    llm = failed.step("0.1")
    assert (llm.kind, llm.status, llm.output) == ("llm", "error", None)
    assert llm.error == "LLMError: openai: HTTP 400: context_length_exceeded: the conversation is too long"
    assert failed.error is not None
    assert "step 0.1 (LLM call to gpt-4o-mini) failed" in failed.error
    assert failed.usage == s.Usage()  # a failed call spends nothing the workflow counts


def test_what_is_not_a_run_history_is_refused() -> None:
    data = json.loads((HISTORIES / "tool_then_answer.json").read_text())
    data["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"] = "other"
    with pytest.raises(HistoryError, match="a history of workflow 'other', not of an agent run"):
        timeline_of(WorkflowHistory.from_json("x", json.dumps(data)))
    data["events"] = data["events"][1:]
    with pytest.raises(HistoryError, match="does not start with the run's input"):
        timeline_of(WorkflowHistory.from_json("x", json.dumps(data)))
    with pytest.raises(KeyError, match=r"no step '9\.9'"):
        timeline("tool_then_answer").step("9.9")


def test_a_run_that_continued_as_new_replays_from_its_latest_history() -> None:
    found = timeline("continued_as_new")
    state = found.run.state
    assert state is not None  # the latest history starts from the state the earlier ones carried
    assert found.run.input is None
    assert found.earlier_step_count == state.earlier_step_count > 0
    assert found.steps[0].index == state.next_index
    assert shape(found)[0] == (f"4.{state.next_index}", "guardrail", "input", "ok")
    assert found.steps[0].usage_after == state.usage  # usage goes on from what the earlier histories spent
    llm = found.steps[1]
    assert isinstance(llm.input, s.LLMCallInput)
    assert llm.input.message_refs == state.message_refs == found.conversation[:len(state.message_refs)]
    assert llm.usage_after.steps == state.usage.steps + 1
    assert found.usage.llm_calls == 10  # five turns: a lookup and an answer each
    assert [event.kind for event in found.events] == ["message", "close"]
