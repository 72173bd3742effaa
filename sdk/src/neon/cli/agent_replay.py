"""`neon agent replay RUN_ID [--step K] [--json]`: a run step by step from its recorded history.

Nothing is called again: the server reads the run's Temporal history and the stored messages
(`GET /api/agent-runs/{run_id}/replay`). Each LLM step shows the messages new to it and the reply (text, tool
calls), its tokens and cost, and the usage so far against the budgets; each tool step its arguments, approval
and result. `--step K` prints the whole conversation as the model had it at step K (a key like 1.6, or its
index). Exit codes: 0 shown, 1 the history no longer replays against the server's code, 2 unknown run or step.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from neon.cli.agent_runs import EXIT_ERROR, EXIT_USAGE, _client, _connection, _fail, _reports_api_errors

CUT = 600  # characters of a message shown in the step list (--step shows them whole)


def register(agent_commands: Any) -> None:
    replay = agent_commands.add_parser("replay", help="a run step by step from its history (no live calls)")
    replay.add_argument("run_id")
    replay.add_argument("--step", metavar="K", help="the conversation as it was at this step (key or index)")
    replay.add_argument("--json", action="store_true", help="print the server's replay answer as JSON")
    _connection(replay)
    replay.set_defaults(handler=cmd_replay)


@_reports_api_errors
def cmd_replay(args: argparse.Namespace) -> int:
    with _client(args) as client:
        replay = client.request("GET", f"/api/agent-runs/{args.run_id}/replay")
    if args.step is not None:
        step = next((st for st in replay["steps"] if args.step in (st["key"], str(st["index"]))), None)
        if step is None:
            keys = ", ".join(st["key"] for st in replay["steps"])
            return _fail(f"no step {args.step!r} in run {args.run_id} (steps: {keys})", EXIT_USAGE)
        print(json.dumps(conversation_at(replay, step), indent=2) if args.json else
              "\n".join(render_conversation(replay, step)))
    else:
        print(json.dumps(replay, indent=2) if args.json else "\n".join(render(replay)))
    return 0 if replay["deterministic"] else EXIT_ERROR


def render(replay: dict[str, Any]) -> list[str]:
    """The run as text: a header, each step in order (with the user messages and signals between them), the end."""
    lines = [f"run {replay['run_id']}  {replay['agent']}@{replay['version']}  {replay['status']}"]
    if replay["earlier_step_count"]:
        lines.append(f"({replay['earlier_step_count']} steps of earlier histories are not shown: the run "
                     "continued as new)")
    if replay["input"] is not None:
        lines.append(f"user: {_cut(replay['input'])}")
    events = sorted(replay["events"], key=lambda e: e["at_ns"])
    for step in replay["steps"]:
        while events and step["started_ns"] and events[0]["at_ns"] <= step["started_ns"]:
            lines.append(_event(events.pop(0)))
        lines.extend(_step(step, replay["budgets"]))
    lines.extend(_event(event) for event in events)
    usage = replay["usage"]
    lines.append(f"{replay['status']}: {_usage(usage, replay['budgets'])}")
    if replay["answer"] is not None:
        lines.append(f"answer: {replay['answer']}")
    if replay["error"]:
        lines.append(f"error: {replay['error']}")
    lines.append("replays against this server's workflow code" if replay["deterministic"] else
                 f"DOES NOT REPLAY against this server's workflow code: {replay['problem']}")
    if replay["missing_blobs"]:
        lines.append(f"missing blobs (shown as null): {', '.join(replay['missing_blobs'])}")
    return lines


def _step(step: dict[str, Any], budgets: dict[str, Any]) -> list[str]:
    head = f"step {step['key']:<6} {step['kind']:<9} {step['name']:<18} {step['status']}"
    if step["attempt"] > 1:
        head += f" (attempt {step['attempt']})"
    lines = [head]
    inputs, output = step["input"] or {}, step["output"] or {}
    shown = {"llm": _llm, "tool": _tool, "guardrail": _guardrail}[step["kind"]]
    lines.extend(shown(step, inputs, output))
    if step["error"] and not (step["kind"] == "tool" and output.get("result")):  # else the result says it
        lines.append(f"  error: {step['error']}")
    if step["kind"] != "guardrail":
        lines.append(f"  usage {_usage(step['usage_after'], budgets)}")
    return lines


def _llm(step: dict[str, Any], inputs: dict[str, Any], output: dict[str, Any]) -> list[str]:
    lines = [f"  + {m.get('role')}: {_cut(str(m.get('content')))}" for m in inputs.get("new_messages", [])]
    if output:
        if output["text"]:
            lines.append(f"  assistant: {_cut(output['text'])}")
        lines.extend(f"  calls {call['name']}({json.dumps(call['arguments'])})  [{call['id']}]"
                     for call in output["tool_calls"])
        cost = "unpriced" if output["cost_usd"] is None else f"${output['cost_usd']:.6f}"
        lines.append(f"  tokens {output['input_tokens']} in / {output['output_tokens']} out, {cost}")
    return lines


def _tool(step: dict[str, Any], inputs: dict[str, Any], output: dict[str, Any]) -> list[str]:
    lines = [f"  arguments {json.dumps(inputs.get('arguments'))}"]
    approval = step["approval"]
    if approval:
        who = "timeout policy" if approval["timed_out"] else approval["by"]
        lines.append(f"  {approval['decision'] or 'undecided'} by {who}"
                     + (f": {approval['reason']}" if approval["reason"] else ""))
    result = output.get("result")
    if result is not None:
        lines.append(f"  result: {_cut(str(result.get('content')))}")
    return lines


def _guardrail(step: dict[str, Any], inputs: dict[str, Any], output: dict[str, Any]) -> list[str]:
    if output:
        failed = [v for v in output["verdicts"] if not v["passed"]]
        return ["  passed" if output["passed"] else
                "  blocked: " + "; ".join(f"{v['rule']}: {v['reason']}" for v in failed)]
    return [f"  ({step['note']})"] if step["note"] else []


def _usage(usage: dict[str, Any], budgets: dict[str, Any]) -> str:
    def of(value: Any, limit: Any, fmt: str = "{}") -> str:
        return fmt.format(value) + (f"/{fmt.format(limit)}" if limit is not None else "")

    tokens = usage["input_tokens"] + usage["output_tokens"]
    return (f"{of(usage['steps'], budgets['max_steps'])} steps ({usage['llm_calls']} LLM, {usage['tool_calls']} "
            f"tool), {of(tokens, budgets['max_tokens'])} tokens, "
            f"${of(usage['cost_usd'], budgets['max_cost_usd'], '{:.4f}')}")


def _event(event: dict[str, Any]) -> str:
    if event["kind"] == "message":
        return f"user ({event['by'] or 'unknown'}): {_cut(event['text'] or '')}"
    return f"[{event['kind']}]"


def _cut(text: str) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= CUT else text[:CUT] + "…"


def conversation_at(replay: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    """What the model had at `step`: the system prompt and messages of the LLM step at or before it, and its
    reply; for a tool or guardrail step, the conversation of the LLM step before it."""
    llm = next((st for st in reversed(replay["steps"]) if st["kind"] == "llm" and st["index"] <= step["index"]
                and st["input"]), None)
    if llm is None:
        return {"step": step["key"], "system_prompt": None, "messages": [], "replied": False, "reply": None}
    upto = llm["input"]["conversation_upto"]
    messages = [m["message"] for m in replay["messages"][:upto]] + list(llm["input"]["new_messages"])
    return {"step": step["key"], "llm_step": llm["key"], "system_prompt": llm["input"]["system_prompt"],
            "messages": messages, "replied": llm["output"] is not None,
            "reply": llm["output"]["message"] if llm["output"] else None, "error": llm["error"]}


def render_conversation(replay: dict[str, Any], step: dict[str, Any]) -> list[str]:
    seen = conversation_at(replay, step)
    if seen["system_prompt"] is None:
        return [f"step {step['key']}: no model call before it, so no conversation yet"]
    lines = [f"step {step['key']}: the conversation the model had at step {seen['llm_step']}", "",
             "system:", *(f"  {line}" for line in seen["system_prompt"].splitlines())]
    for message in seen["messages"]:
        lines.extend(_message(message))
    lines.append("--- the reply" if seen["replied"] else f"--- no reply: {seen['error']}")
    if seen["replied"]:
        lines.extend(_message(seen["reply"]))
    return lines


def _message(message: dict[str, Any] | None) -> list[str]:
    if message is None:
        return ["(a message whose blob is gone)"]
    role = message.get("role", "?")
    if role == "tool":
        role = f"tool {message.get('name', '')} [{message.get('tool_call_id', '')}]"
    lines = [f"{role}:"]
    content = message.get("content")
    if content:
        lines.extend(f"  {line}" for line in str(content).splitlines())
    for call in message.get("tool_calls") or []:
        function = call.get("function", call)
        lines.append(f"  calls {function.get('name')}({function.get('arguments')})  [{call.get('id')}]")
    return lines
