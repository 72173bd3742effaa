"""The evaluation vocabulary every scorer, dataset, suite and runner shares.

A scorer is called with a `Case` (what the agent was asked, and what we expected) and an `Outcome` (what the agent
did: its output, and the spans of its trace), and returns a `Score`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from neon.breakpoints.spans import SpanInfo
from neon.tracing import attributes as A

ScoreType = Literal["numeric", "boolean", "categorical"]


@dataclass(frozen=True)
class Case:
    """One test case: the agent's input, what we expect back, and which tools it should call."""

    input: Any
    expected: Any = None
    expected_tools: Sequence[str] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    id: str = ""


@dataclass(frozen=True)
class ToolCall:
    """One tool call the agent made, read off a `tool` span."""

    name: str
    input: Any = None
    output: Any = None
    status: str = "unset"
    duration_ms: float | None = None
    span_id: str = ""


@dataclass
class Outcome:
    """What the agent did for one case: its output (or error), how long it took, and its trace's spans."""

    output: Any = None
    error: str | None = None
    duration_ms: float | None = None
    trace_id: str = ""
    spans: list[SpanInfo] = field(default_factory=list)

    def tool_calls(self) -> list[ToolCall]:
        """The tool spans in start order (spans are kept in the order they started)."""
        calls = []
        for s in self.spans:
            if s.span_type != "tool":
                continue
            attrs = s.attributes
            calls.append(ToolCall(name=s.tool_name or s.name, input=attrs.get(A.INPUT), output=attrs.get(A.OUTPUT),
                                  status=s.status, duration_ms=s.duration_ms, span_id=s.span_id))
        return calls

    @property
    def tools(self) -> list[str]:
        """Names of the tools called, in order, with repeats."""
        return [c.name for c in self.tool_calls()]

    @property
    def llm_calls(self) -> int:
        return sum(1 for s in self.spans if s.span_type == "generation")

    def _sum_attr(self, *keys: str) -> int:
        total = 0
        for s in self.spans:
            for key in keys:
                value = s.attributes.get(key)
                if isinstance(value, int | float):
                    total += int(value)
                    break
        return total

    @property
    def input_tokens(self) -> int:
        return self._sum_attr(A.INPUT_TOKENS, "gen_ai.usage.prompt_tokens")

    @property
    def output_tokens(self) -> int:
        return self._sum_attr(A.OUTPUT_TOKENS, "gen_ai.usage.completion_tokens")

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Score:
    """A scorer's verdict. `value` is in [0, 1] for numeric and boolean scores (1.0 = true / best).

    Categorical scores carry `label`, and may carry a `value` too when the categories are ordered.
    """

    name: str
    value: float | None
    data_type: ScoreType = "numeric"
    label: str = ""
    reason: str = ""
    evidence: Any = None
    passed: bool | None = None

    def __post_init__(self) -> None:
        if self.value is not None and not 0.0 <= self.value <= 1.0:
            raise ValueError(f"score {self.name!r}: value {self.value} is outside [0, 1]")


ScoreFn = Callable[[Case, Outcome], "Score | Awaitable[Score]"]


@runtime_checkable
class Scorer(Protocol):
    """Anything with a `name` that can be called with (case, outcome) and returns a Score (or awaits one)."""

    name: str

    def __call__(self, case: Case, outcome: Outcome) -> Score | Awaitable[Score]: ...


async def run_scorer(scorer: Scorer, case: Case, outcome: Outcome) -> Score:
    """Call a scorer, sync or async, and return its Score."""
    result = scorer(case, outcome)
    if inspect.isawaitable(result):
        result = await result
    if not isinstance(result, Score):
        raise TypeError(f"scorer {scorer.name!r} returned {type(result).__name__}, not a neon Score")
    return result
