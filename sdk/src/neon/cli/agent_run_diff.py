"""`neon agent diff RUN_A RUN_B [--json]`: two runs side by side, from `GET /api/agent-runs/diff`.

Printed: both runs, the aligned steps (kind/name, A vs B status, token, cost and latency deltas B − A), the
line saying where they diverged, that step's prompts and outputs (A, then B, labelled), the totals and the spec
changes. `neon agent diff` compares spec files unless both arguments are run ids.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
from typing import Any

from neon.cli.agent_runs import _client, _reports_api_errors
from neon.execute.diff import MISSING, SpecChange

RUN_ID = re.compile(r"^run_[a-z2-7]{26}$")
TEXT_LIMIT = 600  # characters of one message shown; --json has everything


def are_run_ids(*values: str) -> bool:
    return all(RUN_ID.match(value) for value in values)


@_reports_api_errors
def cmd_run_diff(args: argparse.Namespace) -> int:
    with _client(args) as client:
        diff = client.request("GET", "/api/agent-runs/diff", params={"a": args.old, "b": args.new})
    if args.json:
        print(json.dumps(diff, indent=2))
    else:
        print(render(diff))
    return 0


def render(diff: dict[str, Any]) -> str:
    lines = [f"A {_run_line(diff['a'])}", f"B {_run_line(diff['b'])}", ""]
    lines.append(f"{'#':>3}  {'A':<6} {'B':<6} {'STEP':<28} {'A STATUS':<9} {'B STATUS':<9} {'':<8} "
                 f"{'Δ TOKENS in/out':<16} {'Δ COST':<11} Δ LATENCY")
    for pair in diff["steps"]:
        side = pair["a"] or pair["b"]
        delta = pair["delta"]
        tokens = f"{delta['input_tokens']:+d}/{delta['output_tokens']:+d}" if delta else ""
        lines.append(f"{pair['position']:>3}  {_key(pair['a']):<6} {_key(pair['b']):<6} "
                     f"{(side['kind'] + ' ' + side['name'])[:28]:<28} {_status(pair['a']):<9} {_status(pair['b']):<9} "
                     f"{_state(pair):<8} {tokens:<16} {_cost(delta['cost_usd']) if delta else '':<11} "
                     f"{_ms(delta['latency_ms']) if delta else ''}")
    at = diff["diverged_at"]
    lines.append("")
    if at is None:
        lines.append("no divergence: every step is the same" + ("" if not diff["answer_changed"] else
                                                                 " (but the answers differ)"))
    else:
        where = " / ".join(f"{label} {key}" for label, key in (("A", at["a_key"]), ("B", at["b_key"])) if key)
        lines.append(f"diverged at step {at['a_key'] or at['b_key']} ({where}): {at['reason']}")
        lines.extend(_divergent_step(diff["steps"][at["position"]]))
    total = diff["delta"]
    lines += ["", f"totals B − A: tokens in {total['input_tokens']:+d}, out {total['output_tokens']:+d}; "
                  f"cost {_cost(total['cost_usd'])}; step time {_ms(total['latency_ms'])}"]
    if diff["answer_changed"]:
        lines += [f"answer A: {_short(diff['a']['answer'])}", f"answer B: {_short(diff['b']['answer'])}"]
    changes = diff["spec_changes"]
    lines += ["", f"spec changes A → B: {len(changes)}" if changes else "spec: the same"]
    lines += [str(_spec_change(change)) for change in changes]
    return "\n".join(lines)


def _divergent_step(pair: dict[str, Any]) -> list[str]:
    """The step's prompts and outputs, A then B; a prompt both sides share is printed once."""
    a, b = pair["a"], pair["b"]
    ca = (a or {}).get("content") or {}
    cb = (b or {}).get("content") or {}
    out: list[str] = []
    if ca.get("messages") is not None or cb.get("messages") is not None:
        if a and b and "prompt" not in pair["changes"] and ca.get("messages") is not None:  # same, ids aside
            out += ["", "── prompt (the same in A and B) ──", *_prompt(ca)]
        else:
            for label, content in (("A", ca), ("B", cb)):
                if content:
                    out += ["", f"── prompt {label} ──", *_prompt(content)]
            if ca.get("system_prompt") and cb.get("system_prompt") and ca["system_prompt"] != cb["system_prompt"]:
                out += ["", "── system prompt A → B ──", *_unified(ca["system_prompt"], cb["system_prompt"])]
    for label, side, content in (("A", a, ca), ("B", b, cb)):
        out += ["", f"── output {label} ──", *(_output(side, content) if side else ["(no step here)"])]
    return out


def _prompt(content: dict[str, Any]) -> list[str]:
    lines = [f"  system: {_short(content.get('system_prompt'))}"]
    lines += [f"  {m.get('role', '?')}: {_short(_message_text(m))}" for m in content.get("messages") or []]
    return lines


def _output(side: dict[str, Any], content: dict[str, Any]) -> list[str]:
    lines = [f"  status: {side['status']}" + (f" — {side['error']}" if side.get("error") else "")]
    if side["kind"] == "tool":
        lines.append(f"  arguments: {json.dumps(side.get('arguments'), sort_keys=True)}")
        lines.append(f"  result: {_short(content.get('result') if content else side['summary'])}")
    elif content.get("text") is not None or content.get("tool_calls"):
        if content.get("text"):
            lines.append(f"  text: {_short(content['text'])}")
        for call in content.get("tool_calls") or []:
            lines.append(f"  calls {call.get('name')}({json.dumps(call.get('arguments'), sort_keys=True)})")
    else:
        lines.append(f"  {_short(side['summary'])}")
    return lines


def _message_text(message: dict[str, Any]) -> str:
    text = str(message.get("content") or "")
    calls = message.get("tool_calls") or []
    return text + "".join(f" [calls {c.get('name')}({json.dumps(c.get('arguments'), sort_keys=True)})]"
                          for c in calls)


def _unified(old: str, new: str) -> list[str]:
    return [f"  {line}" for line in list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="",
                                                               n=1))[2:]]


def _spec_change(change: dict[str, Any]) -> SpecChange:
    return SpecChange(change["path"], MISSING if change["kind"] == "added" else change["old"],
                      MISSING if change["kind"] == "removed" else change["new"])


def _run_line(run: dict[str, Any]) -> str:
    totals = run["totals"]
    fork = run.get("fork")
    forked = f"  fork of {fork.get('parent_run_id')} at {fork.get('at_step')}" if fork else ""
    return (f"{run['run_id']}  {run['agent']}@{run['version']}  {run['status']}  {totals['steps']} steps, "
            f"{totals['input_tokens'] + totals['output_tokens']} tokens, {_money(totals)}{forked}")


def _money(totals: dict[str, Any]) -> str:
    unpriced = totals["unpriced_steps"]
    return f"${totals['cost_usd']:.6f}" + (f" (+{unpriced} unpriced)" if unpriced else "")


def _key(side: dict[str, Any] | None) -> str:
    return side["key"] if side else "—"


def _status(side: dict[str, Any] | None) -> str:
    return side["status"] if side else "—"


def _state(pair: dict[str, Any]) -> str:
    return {"same": "same", "changed": "CHANGED", "only_a": "only A", "only_b": "only B"}[pair["state"]]


def _cost(value: float | None) -> str:
    return "unknown" if value is None else f"{value:+.6f}"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:+.0f} ms"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = text.replace("\n", "⏎ ")
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"
