"""The replay answer of a run: its timeline (`neon.execute.history`) with every blob ref resolved to its value.

The workflow's history keeps conversation messages and tool results as refs; here they are read back from the
project's agent blobs, so the answer holds the messages themselves. The conversation only grows, so it is given
once (`messages`) and each LLM step says how many of its messages the model was sent (`conversation_upto`).
Nothing here calls a model or a tool.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from neon.execute import shared as s
from neon.execute.history import RunTimeline, TimelineStep
from neon_server.services.agent_blobs import AgentBlobService
from neon_server.services.errors import NotFound


class BlobReader:
    """Reads a run's blobs once each; a blob that is gone reads as None (the answer says which)."""

    def __init__(self, blobs: AgentBlobService, project_id: str) -> None:
        self._blobs, self._project_id = blobs, project_id
        self._read: dict[str, Any] = {}
        self.missing: list[str] = []

    def __call__(self, ref: str | None) -> Any:
        if ref is None:
            return None
        if ref not in self._read:
            try:
                self._read[ref] = json.loads(self._blobs.get(self._project_id, ref))
            except NotFound:
                self._read[ref] = None
                self.missing.append(ref)
        return self._read[ref]


def replay_answer(timeline: RunTimeline, problem: str | None, read: BlobReader) -> dict[str, Any]:
    run = timeline.run
    return {"run_id": run.run_id, "agent": run.agent, "version": run.version, "status": timeline.status,
            "answer": timeline.answer, "error": timeline.error, "deterministic": problem is None,
            "problem": problem, "input": run.input, "variables": run.variables,
            "budgets": asdict(timeline.budgets), "usage": asdict(timeline.usage),
            "earlier_step_count": timeline.earlier_step_count,
            "messages": [{"index": i, "ref": ref, "message": read(ref)} for i, ref in enumerate(timeline.conversation)],
            "events": [asdict(event) for event in timeline.events],
            "steps": [_step(step, read) for step in timeline.steps],
            "missing_blobs": read.missing}


def _step(step: TimelineStep, read: BlobReader) -> dict[str, Any]:
    inputs, output = _io(step, read)
    approval = asdict(step.approval) if step.approval else None
    return {"index": step.index, "key": step.key, "turn": step.turn, "kind": step.kind, "name": step.name,
            "status": step.status, "started_ns": step.started_ns, "ended_ns": step.ended_ns,
            "attempt": step.attempt, "local": step.local, "note": step.note, "input": inputs, "output": output,
            "error": step.error, "usage_after": asdict(step.usage_after), "approval": approval}


def _io(step: TimelineStep, read: BlobReader) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The step's input and output as the answer shows them: what the activity got and gave, refs resolved."""
    value, result = step.input, step.output
    inputs: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    if isinstance(value, s.LLMCallInput):
        inputs = {"model": value.model, "system_prompt": value.system_prompt, "tools": value.tools,
                  "conversation_upto": len(value.message_refs), "new_messages": value.new_messages}
    elif isinstance(value, s.GuardrailInput):
        inputs = {"stage": value.stage, "rules": value.rules, "text": value.text}
    if step.call is not None:
        inputs = {"call_id": step.call.id, "tool": step.call.name, "arguments": step.call.arguments,
                  "arguments_error": step.call.arguments_error}
    if isinstance(result, s.LLMCallResult):
        output = {"text": result.text, "tool_calls": [asdict(call) for call in result.tool_calls],
                  "model": result.model, "input_tokens": result.input_tokens, "output_tokens": result.output_tokens,
                  "cost_usd": result.cost_usd, "finish_reason": result.finish_reason,
                  "time_to_first_token_ms": result.time_to_first_token_ms, "message_ref": result.message_ref,
                  "message": read(result.message_ref)}
    elif isinstance(result, s.ToolCallResult):
        output = {"ok": result.ok, "preview": result.preview, "error": result.error,
                  "result_ref": result.result_ref, "result": read(result.result_ref)}
    elif isinstance(result, s.GuardrailOutput):
        output = {"passed": result.passed, "verdicts": [asdict(v) for v in result.verdicts], "text": result.text}
    elif step.stored_result_ref is not None:  # a call that did not run: what the model was told instead
        output = {"ok": False, "preview": step.error or "", "error": step.error,
                  "result_ref": step.stored_result_ref, "result": read(step.stored_result_ref)}
    return inputs, output
