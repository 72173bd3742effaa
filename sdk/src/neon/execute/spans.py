"""The spans of a run, built from recorded results only (pure functions the workflow calls).

A span here is a plain dict — trace and span ids, parent, name, times in ns, status and attributes in the
keys Neon's ingestion maps (`neon.*`, `gen_ai.*`). The `emit_spans` activity turns a list of them into one
OTLP/JSON request. Ids derive from the run and the step key, so an attempt, a retry or a replay of a step
always describes the same span; since the inputs are recorded values, a retried request is byte-identical
and ingestion counts it once.

Each turn of the conversation is a root span of type `agent` (written when the turn ends); its steps hang
under it.
"""

from __future__ import annotations

import json
from typing import Any

from neon.execute import shared as s

PREVIEW = 4000  # characters of a tool result or answer kept on the span (the whole value is a blob)


def _turn_id(run_id: str, turn: int) -> str:
    return s.span_id_for(run_id, f"turn-{turn}", "agent")


def _base(run: s.RunInput, span_id: str, parent: str, name: str, *, start: int, end: int, status: str,
          message: str, attributes: dict[str, Any]) -> dict[str, Any]:
    common = {"neon.agent_id": run.agent, "neon.agent_version": run.version, "neon.session_id": run.run_id,
              "neon.run_id": run.run_id}
    return {"trace_id": s.trace_id_for(run.run_id), "span_id": span_id, "parent_span_id": parent, "name": name,
            "start_ns": start, "end_ns": max(end, start), "status": status, "status_message": message,
            "attributes": {**common, **{k: v for k, v in attributes.items() if v is not None}}}


def turn_span(run: s.RunInput, turn: int, *, start: int, end: int, user_text: str, answer: str | None,
              error: str | None) -> dict[str, Any]:
    return _base(run, _turn_id(run.run_id, turn), "", run.agent, start=start, end=end,
                 status="error" if error else "ok", message=error or "",
                 attributes={"neon.span_type": "agent", "neon.input": user_text[:PREVIEW],
                             "neon.output": answer[:PREVIEW] if answer is not None else None, "neon.turn": turn})


def _step(run: s.RunInput, step: s.Step, kind: str, *, span_type: str, name: str,
          attributes: dict[str, Any]) -> dict[str, Any]:
    status = "ok" if step.status in ("ok", "approved") else "error"
    return _base(run, s.span_id_for(run.run_id, step.key, kind), _turn_id(run.run_id, step.turn), name,
                 start=step.started_ns, end=step.ended_ns, status=status,
                 message=step.error or "" if status == "error" else "",
                 attributes={"neon.span_type": span_type, "neon.step_key": step.key, "neon.step_index": step.index,
                             "neon.attempt": step.attempt, **attributes})


def llm_span(run: s.RunInput, step: s.Step, result: s.LLMCallResult | None) -> dict[str, Any]:
    model = run.spec.get("model") or {}
    attributes: dict[str, Any] = {"neon.model": (result.model if result else None) or model.get("name"),
                                  "neon.provider": model.get("provider")}
    if result is not None:
        attributes.update({
            "neon.input": result.input_preview or None,
            "gen_ai.usage.input_tokens": result.input_tokens, "gen_ai.usage.output_tokens": result.output_tokens,
            "neon.output": json.dumps({"role": "assistant", "content": result.text,
                                       "tool_calls": [c.__dict__ for c in result.tool_calls]}, sort_keys=True),
            "gen_ai.response.finish_reasons": [result.finish_reason] if result.finish_reason else None,
            "neon.time_to_first_token_ms": result.time_to_first_token_ms, "neon.cost": result.cost_usd,
            "neon.message_ref": result.message_ref})
    return _step(run, step, "llm", span_type="generation", name=f"llm {model.get('name') or ''}".strip(),
                 attributes=attributes)


def tool_span(run: s.RunInput, step: s.Step, result: s.ToolCallResult | None) -> dict[str, Any]:
    return _step(run, step, "tool", span_type="tool", name=step.name, attributes={
        "neon.tool.name": step.name, "neon.tool.call_id": step.tool_call_id,
        "neon.input": json.dumps(step.arguments or {}, sort_keys=True),
        "neon.output": (result.preview if result else step.summary)[:PREVIEW],
        "neon.result_ref": step.output_ref})


def guardrail_span(run: s.RunInput, step: s.Step, verdict: s.GuardrailOutput) -> dict[str, Any]:
    return _step(run, step, "guardrail", span_type="guardrail", name=f"guardrails {step.name}", attributes={
        "neon.guardrail.stage": step.name, "neon.guardrail.passed": verdict.passed,
        "neon.output": json.dumps([v.__dict__ for v in verdict.verdicts], sort_keys=True)})


def approval_span(run: s.RunInput, step: s.Step, approval: s.Approval) -> dict[str, Any]:
    span = _step(run, step, "approval", span_type="span", name=f"approval {approval.tool}", attributes={
        "neon.component_type": "approval", "neon.approval.decision": approval.decision,
        "neon.approval.decided_by": approval.decided_by, "neon.approval.reason": approval.decided_reason,
        "neon.approval.timed_out": approval.timed_out,
        "neon.input": json.dumps({"tool": approval.tool, "arguments": approval.arguments,
                                  "model_reason": approval.reason}, sort_keys=True)})
    span["start_ns"] = approval.requested_ns
    span["end_ns"] = max(approval.decided_ns or approval.requested_ns, approval.requested_ns)
    span["status"] = "ok" if approval.decision == "approved" else "error"
    span["status_message"] = "" if approval.decision == "approved" else f"rejected: {approval.decided_reason or ''}"
    return span


def to_otlp_json(spans: list[dict[str, Any]], service: str = "neon-agents") -> bytes:
    """One OTLP/JSON ExportTraceServiceRequest, serialised deterministically (same spans → same bytes)."""
    otlp_spans = [{
        "traceId": span["trace_id"], "spanId": span["span_id"], "parentSpanId": span["parent_span_id"],
        "name": span["name"], "kind": 1, "startTimeUnixNano": str(span["start_ns"]),
        "endTimeUnixNano": str(span["end_ns"]),
        "status": {"code": 2 if span["status"] == "error" else 1, "message": span["status_message"]},
        "attributes": [{"key": key, "value": _any_value(value)} for key, value in sorted(span["attributes"].items())],
    } for span in spans]
    body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name",
                                                             "value": {"stringValue": service}}]},
                               "scopeSpans": [{"scope": {"name": "neon.execute"}, "spans": otlp_spans}]}]}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_any_value(v) for v in value]}}
    return {"stringValue": str(value)}
