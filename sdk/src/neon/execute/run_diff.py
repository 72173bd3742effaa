"""Two agent runs side by side: their steps aligned, where they first diverge and why, and what each step and
the whole run cost in tokens, money and time. Pure: the caller reads the runs (steps, resolved prompts and
outputs, specs) and this module compares them.

Steps pair up by signature — kind, name and, for tool calls, the arguments — through a sequence alignment, so a
tool call only one run made shows as inserted rather than shifting every step after it. Two paired steps are
`same` when their prompt, output, arguments and status agree; content is compared without the call ids models
and fakes make up per call, so two runs that said the same thing compare equal.

Deltas are B − A. A cost is unknown (None) when either side has an unpriced call: an unknown price is never
read as zero.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from neon.execute.diff import diff_specs
from neon.execute.shared import Step

PairState = Literal["same", "changed", "only_a", "only_b"]
Change = Literal["prompt", "output", "arguments", "status", "error"]
CHANGES: tuple[Change, ...] = ("status", "prompt", "arguments", "output", "error")  # most telling first
IDS = frozenset({"id", "tool_call_id"})  # made up per call: not part of what a step said


@dataclass
class StepContent:
    """What a step saw and said, resolved from the blob store. For an LLM step: the system prompt, the messages
    sent after it, the reply's text and tool calls. For a tool step: its arguments and its result."""

    system_prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    text: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    arguments: dict[str, Any] | None = None
    result: Any = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunRecord:
    """One run as the diff needs it: its steps (`shared.Step`), their content by step key, and run-level facts."""

    run_id: str
    steps: list[Step]
    contents: dict[str, StepContent] = field(default_factory=dict)
    agent: str | None = None
    version: str | None = None
    status: str | None = None
    answer: str | None = None
    input: str | None = None
    spec: dict[str, Any] | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    fork: dict[str, Any] | None = None


@dataclass
class Delta:
    """B − A; None where either side is unknown."""

    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    latency_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StepSide:
    """One run's step in a pair, with its content and latency (ended − started)."""

    key: str
    index: int
    turn: int
    kind: str
    name: str
    status: str
    summary: str
    error: str | None
    arguments: dict[str, Any] | None
    output_ref: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    latency_ms: float | None
    content: StepContent | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["content"] = self.content.to_dict() if self.content is not None else None
        return out


@dataclass
class StepPair:
    """One aligned position: both runs' steps (or one of them), how they compare, and B − A."""

    position: int
    state: PairState
    changes: list[Change]
    a: StepSide | None
    b: StepSide | None
    delta: Delta | None

    def to_dict(self) -> dict[str, Any]:
        return {"position": self.position, "state": self.state, "changes": list(self.changes),
                "a": self.a.to_dict() if self.a else None, "b": self.b.to_dict() if self.b else None,
                "delta": self.delta.to_dict() if self.delta else None}


@dataclass
class Divergence:
    """The first aligned position where the runs differ: both steps' index and key (None on the side that has
    no step there) and why, in words."""

    position: int
    state: PairState
    changes: list[Change]
    a_key: str | None
    a_index: int | None
    b_key: str | None
    b_index: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Totals:
    """One run's steps added up. `cost_usd` adds the priced calls; `unpriced_steps` counts the others."""

    steps: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    unpriced_steps: int
    latency_ms: float          # the steps' own times, added
    duration_ms: float | None  # first step's start to last step's end

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunFacts:
    run_id: str
    agent: str | None
    version: str | None
    status: str | None
    answer: str | None
    input: str | None
    usage: dict[str, Any]
    fork: dict[str, Any] | None
    totals: Totals

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["totals"] = self.totals.to_dict()
        return out


@dataclass
class RunDiff:
    a: RunFacts
    b: RunFacts
    identical: bool                       # every step same, same answer and status
    steps: list[StepPair]
    diverged_at: Divergence | None
    delta: Delta                          # totals, B − A (latency: the added step times)
    spec_changes: list[dict[str, Any]]    # neon.execute.diff.SpecChange.to_dict(), A → B
    answer_changed: bool
    input_changed: bool
    counts: dict[str, int]                # pairs per state

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a.to_dict(), "b": self.b.to_dict(), "identical": self.identical,
                "steps": [pair.to_dict() for pair in self.steps],
                "diverged_at": self.diverged_at.to_dict() if self.diverged_at else None,
                "delta": self.delta.to_dict(), "spec_changes": list(self.spec_changes),
                "answer_changed": self.answer_changed, "input_changed": self.input_changed,
                "counts": dict(self.counts)}


# ---------------------------------------------------------------------- the diff
def diff_runs(a: RunRecord, b: RunRecord) -> RunDiff:
    """Compare run `a` with run `b` (B − A in every delta)."""
    pairs: list[StepPair] = []
    for left, right in align(a.steps, b.steps):
        pairs.append(_pair(len(pairs), left, right, a.contents, b.contents))
    first = next((pair for pair in pairs if pair.state != "same"), None)
    facts_a, facts_b = _facts(a), _facts(b)
    spec_changes = [change.to_dict() for change in diff_specs(a.spec, b.spec)] if a.spec and b.spec else []
    answer_changed = a.answer != b.answer
    counts = {state: sum(1 for pair in pairs if pair.state == state) for state in ("same", "changed", "only_a",
                                                                                     "only_b")}
    return RunDiff(a=facts_a, b=facts_b, identical=first is None and not answer_changed and a.status == b.status,
                   steps=pairs, diverged_at=_divergence(first) if first else None,
                   delta=_totals_delta(facts_a.totals, facts_b.totals), spec_changes=spec_changes,
                   answer_changed=answer_changed, input_changed=a.input != b.input, counts=counts)


def signature(step: Step) -> str:
    """What pairs two steps: kind, name, and a tool call's arguments."""
    arguments = json.dumps(step.arguments, sort_keys=True, default=str) if step.kind == "tool" else ""
    return f"{step.kind}\x1f{step.name}\x1f{arguments}"


def align(a: Sequence[Step], b: Sequence[Step]) -> list[tuple[Step | None, Step | None]]:
    """The steps of both runs in one sequence of pairs. Equal signatures pair up; in a stretch where they
    differ, steps of the same kind and name pair up as changed (a tool called with other arguments), the rest
    stand alone (only in A, then only in B)."""
    out: list[tuple[Step | None, Step | None]] = []
    matcher = difflib.SequenceMatcher(a=[signature(s) for s in a], b=[signature(s) for s in b], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.extend(zip(a[i1:i2], b[j1:j2], strict=True))
        else:
            out.extend(_align_stretch(a[i1:i2], b[j1:j2]))
    return out


def _align_stretch(a: Sequence[Step], b: Sequence[Step]) -> Iterable[tuple[Step | None, Step | None]]:
    matcher = difflib.SequenceMatcher(a=[(s.kind, s.name) for s in a], b=[(s.kind, s.name) for s in b],
                                      autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            yield from zip(a[i1:i2], b[j1:j2], strict=True)
        else:
            yield from ((step, None) for step in a[i1:i2])
            yield from ((None, step) for step in b[j1:j2])


def _pair(position: int, a: Step | None, b: Step | None, contents_a: Mapping[str, StepContent],
          contents_b: Mapping[str, StepContent]) -> StepPair:
    side_a = _side(a, contents_a) if a else None
    side_b = _side(b, contents_b) if b else None
    if side_a is None or side_b is None:
        return StepPair(position, "only_a" if side_b is None else "only_b", [], side_a, side_b, None)
    changes = compare(side_a, side_b)
    delta = Delta(input_tokens=side_b.input_tokens - side_a.input_tokens,
                  output_tokens=side_b.output_tokens - side_a.output_tokens,
                  cost_usd=_minus(side_b.cost_usd, side_a.cost_usd),
                  latency_ms=_minus(side_b.latency_ms, side_a.latency_ms))
    return StepPair(position, "changed" if changes else "same", changes, side_a, side_b, delta)


def compare(a: StepSide, b: StepSide) -> list[Change]:
    """What differs between two paired steps, in the order of CHANGES."""
    found: set[Change] = set()
    if a.status != b.status:
        found.add("status")
    if (a.error or None) != (b.error or None):
        found.add("error")
    if a.kind == "tool" and _strip_ids(a.arguments) != _strip_ids(b.arguments):
        found.add("arguments")
    ca, cb = a.content, b.content
    if _prompt(ca) is not None and _prompt(cb) is not None and _prompt(ca) != _prompt(cb):
        found.add("prompt")
    said_a, said_b = _said(ca), _said(cb)
    if said_a is not None and said_b is not None:
        if said_a != said_b:
            found.add("output")
    elif a.output_ref != b.output_ref or a.summary != b.summary:
        # no content on one side: the stored output's address (content-addressed) and the summary say enough
        found.add("output")
    return [change for change in CHANGES if change in found]


def _prompt(content: StepContent | None) -> tuple[Any, ...] | None:
    """What a step was sent, without call ids; None when its prompt was not resolved (a step a fork copied)."""
    if content is None or content.messages is None:
        return None
    return content.system_prompt, _strip_ids(content.messages)


def _said(content: StepContent | None) -> tuple[Any, ...] | None:
    """What a step said, without call ids; None when its output was not resolved."""
    if content is None or (content.text is None and content.result is None):
        return None
    return content.text, _strip_ids(content.tool_calls or []), _strip_ids(content.result)


def _divergence(pair: StepPair) -> Divergence:
    a, b = pair.a, pair.b
    if a is None and b is not None:
        reason = f"only B has step {b.key} ({b.kind} {b.name})"
    elif b is None and a is not None:
        reason = f"only A has step {a.key} ({a.kind} {a.name})"
    else:
        assert a is not None
        assert b is not None
        what = {"prompt": "the prompt differs", "output": "the output differs", "arguments": "the arguments differ",
                "status": f"status {a.status} → {b.status}", "error": "the error differs"}
        reason = f"{a.kind} {a.name}: " + ", ".join(what[change] for change in pair.changes)
    return Divergence(position=pair.position, state=pair.state, changes=list(pair.changes),
                      a_key=a.key if a else None, a_index=a.index if a else None,
                      b_key=b.key if b else None, b_index=b.index if b else None, reason=reason)


# ---------------------------------------------------------------------- sides, totals
def _side(step: Step, contents: Mapping[str, StepContent]) -> StepSide:
    return StepSide(key=step.key, index=step.index, turn=step.turn, kind=step.kind, name=step.name,
                    status=step.status, summary=step.summary, error=step.error, arguments=step.arguments,
                    output_ref=step.output_ref, input_tokens=step.input_tokens, output_tokens=step.output_tokens,
                    cost_usd=step.cost_usd if step.kind == "llm" else _zero_or(step.cost_usd),
                    latency_ms=latency_ms(step), content=contents.get(step.key))


def _zero_or(cost: float | None) -> float | None:
    """Tools and guardrails without a recorded cost cost nothing (only model calls are priced)."""
    return 0.0 if cost is None else cost


def latency_ms(step: Step) -> float | None:
    if step.started_ns <= 0 or step.ended_ns < step.started_ns:
        return None
    return (step.ended_ns - step.started_ns) / 1e6


def totals(steps: Sequence[Step]) -> Totals:
    priced = [step.cost_usd for step in steps if step.cost_usd is not None]
    unpriced = sum(1 for step in steps if step.kind == "llm" and step.status != "running" and step.cost_usd is None)
    latencies = [ms for ms in (latency_ms(step) for step in steps) if ms is not None]
    timed = [step for step in steps if latency_ms(step) is not None]
    duration = (max(s.ended_ns for s in timed) - min(s.started_ns for s in timed)) / 1e6 if timed else None
    return Totals(steps=len(steps), input_tokens=sum(s.input_tokens for s in steps),
                  output_tokens=sum(s.output_tokens for s in steps), cost_usd=sum(priced), unpriced_steps=unpriced,
                  latency_ms=sum(latencies), duration_ms=duration)


def _totals_delta(a: Totals, b: Totals) -> Delta:
    cost = None if a.unpriced_steps or b.unpriced_steps else b.cost_usd - a.cost_usd
    return Delta(input_tokens=b.input_tokens - a.input_tokens, output_tokens=b.output_tokens - a.output_tokens,
                 cost_usd=cost, latency_ms=b.latency_ms - a.latency_ms)


def _facts(run: RunRecord) -> RunFacts:
    return RunFacts(run_id=run.run_id, agent=run.agent, version=run.version, status=run.status, answer=run.answer,
                    input=run.input, usage=dict(run.usage), fork=run.fork, totals=totals(run.steps))


def _minus(b: float | None, a: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _strip_ids(value: Any) -> Any:
    """`value` without call ids (at any depth): they differ between runs that did the same thing."""
    if isinstance(value, Mapping):
        return {k: _strip_ids(v) for k, v in value.items() if k not in IDS}
    if isinstance(value, list | tuple):
        return [_strip_ids(v) for v in value]
    return value
