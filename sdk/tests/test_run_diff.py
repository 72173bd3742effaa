"""Diffing two agent runs (neon.execute.run_diff): alignment, divergence and deltas, on hand-made runs."""

from __future__ import annotations

import json
from typing import Any

from neon.execute.run_diff import RunRecord, StepContent, align, diff_runs
from neon.execute.shared import Step

MS = 1_000_000


def llm(index: int, text: str, *, tokens: tuple[int, int] = (100, 20), cost: float | None = 0.001,
        ms: int = 500, system: str = "You help.", messages: list[dict[str, Any]] | None = None,
        calls: list[dict[str, Any]] | None = None) -> tuple[Step, StepContent]:
    step = Step(key=f"0.{index}", index=index, turn=0, kind="llm", name="gpt-4o-mini", status="ok",
                started_ns=1_000 * MS + index * 1_000 * MS, ended_ns=1_000 * MS + index * 1_000 * MS + ms * MS,
                summary=text[:200], output_ref=f"sha256:{index:064x}", input_tokens=tokens[0],
                output_tokens=tokens[1], cost_usd=cost)
    content = StepContent(system_prompt=system, messages=messages or [{"role": "user", "content": "hi"}], text=text,
                          tool_calls=calls or [])
    return step, content


def tool(index: int, name: str, arguments: dict[str, Any], result: str, *, call_id: str = "c1",
         status: str = "ok") -> tuple[Step, StepContent]:
    step = Step(key=f"0.{index}", index=index, turn=0, kind="tool", name=name, status=status,
                started_ns=1_000 * MS + index * 1_000 * MS, ended_ns=1_000 * MS + index * 1_000 * MS + 50 * MS,
                summary=result[:200], output_ref=f"sha256:{index + 100:064x}", tool_call_id=call_id,
                arguments=arguments)
    return step, StepContent(arguments=arguments, result=result)


def guard(index: int, stage: str = "input", status: str = "ok") -> tuple[Step, StepContent | None]:
    step = Step(key=f"0.{index}", index=index, turn=0, kind="guardrail", name=stage, status=status,
                started_ns=1_000 * MS + index * 1_000 * MS, ended_ns=1_000 * MS + index * 1_000 * MS,
                summary="passed" if status == "ok" else "blocked")
    return step, None


def record(run_id: str, *steps: tuple[Step, StepContent | None], answer: str | None = "done",
           spec: dict[str, Any] | None = None) -> RunRecord:
    return RunRecord(run_id=run_id, steps=[step for step, _ in steps],
                     contents={step.key: content for step, content in steps if content is not None},
                     agent="support", version="v1", status="completed", answer=answer, input="hi", spec=spec)


LOOKUP = {"order_id": "A1001"}


def support_run(run_id: str, *, second_answer: str = "Delivered.", answer_tokens: tuple[int, int] = (150, 10),
                call_id: str = "c1") -> RunRecord:
    return record(run_id, guard(0),
                  llm(1, "Looking.", calls=[{"id": call_id, "name": "lookup_order", "arguments": LOOKUP}]),
                  tool(2, "lookup_order", LOOKUP, '{"status": "delivered"}', call_id=call_id),
                  llm(3, second_answer, tokens=answer_tokens,
                      messages=[{"role": "user", "content": "hi"},
                                {"role": "tool", "tool_call_id": call_id, "content": '{"status": "delivered"}'}]),
                  guard(4, "output"), answer=second_answer)


def test_identical_runs_are_all_same_even_with_other_call_ids() -> None:
    diff = diff_runs(support_run("run_a"), support_run("run_b", call_id="other-id"))
    assert diff.identical
    assert diff.diverged_at is None
    assert [pair.state for pair in diff.steps] == ["same"] * 5
    assert diff.counts == {"same": 5, "changed": 0, "only_a": 0, "only_b": 0}
    assert diff.delta.input_tokens == 0
    assert diff.delta.cost_usd == 0
    same = diff_runs(support_run("run_a"), support_run("run_a"))  # a run with itself
    assert same.identical
    assert same.spec_changes == []


def test_a_different_answer_diverges_at_that_llm_step_with_deltas() -> None:
    diff = diff_runs(support_run("run_a"), support_run("run_b", second_answer="Lost in transit.",
                                                       answer_tokens=(150, 30)))
    assert not diff.identical
    assert diff.answer_changed
    at = diff.diverged_at
    assert at is not None
    assert (at.position, at.a_key, at.b_key, at.a_index, at.b_index) == (3, "0.3", "0.3", 3, 3)
    assert at.changes == ["output"]
    assert at.reason == "llm gpt-4o-mini: the output differs"
    pair = diff.steps[3]
    assert pair.a
    assert pair.b
    assert pair.a.content
    assert pair.b.content
    assert (pair.a.content.text, pair.b.content.text) == ("Delivered.", "Lost in transit.")
    assert pair.delta is not None
    assert pair.delta.output_tokens == 20
    assert pair.delta.latency_ms == 0
    assert diff.delta.output_tokens == 20
    assert [p.state for p in diff.steps] == ["same", "same", "same", "changed", "same"]
    as_json = json.loads(json.dumps(diff.to_dict()))
    assert as_json["diverged_at"]["b_key"] == "0.3"
    assert as_json["steps"][3]["b"]["content"]["text"] == "Lost in transit."


def test_an_extra_tool_call_shows_as_inserted_not_as_everything_shifting() -> None:
    policy = {"topic": "refunds"}
    a = support_run("run_a")
    b = record("run_b", guard(0),
               llm(1, "Looking.", calls=[{"id": "c1", "name": "lookup_order", "arguments": LOOKUP},
                                         {"id": "c2", "name": "lookup_policy", "arguments": policy}]),
               tool(2, "lookup_order", LOOKUP, '{"status": "delivered"}'),
               tool(3, "lookup_policy", policy, "30 days", call_id="c2"),
               llm(4, "Delivered.", tokens=(150, 10),
                   messages=[{"role": "user", "content": "hi"},
                             {"role": "tool", "tool_call_id": "c1", "content": '{"status": "delivered"}'}]),
               guard(5, "output"), answer="Delivered.")
    diff = diff_runs(a, b)
    assert [(p.state, p.a.key if p.a else None, p.b.key if p.b else None) for p in diff.steps] == [
        ("same", "0.0", "0.0"), ("changed", "0.1", "0.1"), ("same", "0.2", "0.2"), ("only_b", None, "0.3"),
        ("same", "0.3", "0.4"), ("same", "0.4", "0.5")]
    assert diff.steps[1].changes == ["output"]  # the model asked for one more call
    assert diff.diverged_at is not None
    assert diff.diverged_at.position == 1
    assert not diff.answer_changed
    assert diff.counts["only_b"] == 1


def test_a_tool_called_with_other_arguments_pairs_as_changed_arguments() -> None:
    a = record("run_a", tool(0, "lookup_order", LOOKUP, "x"), tool(1, "lookup_policy", {"topic": "t"}, "y"))
    b = record("run_b", tool(0, "lookup_order", {"order_id": "A1002"}, "x"), tool(1, "lookup_policy", {"topic": "t"},
                                                                                  "y"))
    pairs = align(a.steps, b.steps)
    assert [(x.key if x else None, y.key if y else None) for x, y in pairs] == [("0.0", "0.0"), ("0.1", "0.1")]
    diff = diff_runs(a, b)
    assert diff.steps[0].changes == ["arguments"]
    assert diff.diverged_at is not None
    assert diff.diverged_at.reason == "tool lookup_order: the arguments differ"


def test_status_prompt_and_removed_steps_are_reasons() -> None:
    a = record("run_a", guard(0), llm(1, "Hello", system="You help."), guard(2, "output"))
    b = record("run_b", guard(0, status="blocked"), answer=None)
    diff = diff_runs(a, b)
    assert diff.diverged_at is not None
    assert diff.diverged_at.changes == ["status", "output"]
    assert diff.diverged_at.reason.startswith("guardrail input: status ok → blocked")
    assert [p.state for p in diff.steps] == ["changed", "only_a", "only_a"]
    prompt = diff_runs(a, record("run_b", guard(0), llm(1, "Hello", system="You are terse."), guard(2, "output")))
    assert prompt.diverged_at is not None
    assert prompt.diverged_at.changes == ["prompt"]
    assert prompt.diverged_at.position == 1


def test_unpriced_costs_stay_unknown() -> None:
    a = record("run_a", llm(0, "x", cost=0.002), llm(1, "y", cost=0.003))
    b = record("run_b", llm(0, "x", cost=None), llm(1, "y", cost=0.004))
    diff = diff_runs(a, b)
    assert diff.steps[0].delta is not None
    assert diff.steps[0].delta.cost_usd is None
    assert diff.steps[1].delta is not None
    assert abs((diff.steps[1].delta.cost_usd or 0) - 0.001) < 1e-12
    assert diff.b.totals.unpriced_steps == 1
    assert abs(diff.b.totals.cost_usd - 0.004) < 1e-12
    assert diff.delta.cost_usd is None  # partly unpriced: no total delta rather than a wrong one
    priced = diff_runs(a, record("run_b", llm(0, "x", cost=0.002), llm(1, "y", cost=0.001)))
    assert priced.delta.cost_usd is not None
    assert abs(priced.delta.cost_usd + 0.002) < 1e-12


def test_spec_changes_are_listed() -> None:
    spec = {"name": "support", "system_prompt": "You help.", "budgets": {"max_steps": 20}}
    a = record("run_a", llm(0, "x"), spec=spec)
    b = record("run_b", llm(0, "x", system="You are terse."),
               spec={**spec, "system_prompt": "You are terse."})
    diff = diff_runs(a, b)
    assert diff.spec_changes == [{"path": "system_prompt", "kind": "changed", "old": "You help.",
                                  "new": "You are terse."}]
    assert diff.diverged_at is not None
    assert diff.diverged_at.changes == ["prompt"]


def test_a_step_without_a_resolved_prompt_compares_by_what_it_said() -> None:
    """A fork's copied steps may have no prompt in the fork's history: they compare by output, not as changed."""
    a = record("run_a", guard(0), llm(1, "Hello"), guard(2, "output"))
    copied_step, copied = llm(1, "Hello")
    copied.messages = None
    copied.system_prompt = None
    b = record("run_b", guard(0), (copied_step, copied), guard(2, "output"))
    diff = diff_runs(a, b)
    assert diff.identical
    other_step, other = llm(1, "Bonjour")
    other.messages = None
    changed = diff_runs(a, record("run_b", guard(0), (other_step, other), guard(2, "output")))
    assert changed.diverged_at is not None
    assert changed.diverged_at.changes == ["output"]


def test_the_cli_renders_an_inserted_step_and_its_divergence() -> None:
    from neon.cli.agent_run_diff import render

    a = record("run_a", guard(0), llm(1, "Hello"), guard(2, "output"))
    b = record("run_b", guard(0), llm(1, "Hello"), tool(2, "lookup_policy", {"topic": "refunds"}, "30 days"),
               guard(3, "output"), answer="done")
    lines = render(diff_runs(a, b).to_dict()).splitlines()
    row = next(line for line in lines if "lookup_policy" in line)
    assert row.split()[:4] == ["2", "—", "0.2", "tool"]
    assert "only B" in row
    assert "diverged at step 0.2 (B 0.2): only B has step 0.2 (tool lookup_policy)" in lines
    assert "── prompt (the same in A and B) ──" not in lines
    output_a = lines.index("── output A ──")
    assert lines[output_a + 1] == "(no step here)"
    assert '  arguments: {"topic": "refunds"}' in lines
    assert "spec: the same" in lines
