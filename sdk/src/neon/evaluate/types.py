"""The evaluation vocabulary every scorer, dataset, suite and runner shares.

A scorer is called with a `Case` (what the agent was asked, and what we expected) and an `Outcome` (what the agent
did: its output, and the spans of its trace), and returns a `Score`.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from neon.breakpoints.spans import SpanInfo
from neon.tracing import attributes as A

ScoreType = Literal["numeric", "boolean", "categorical"]

# Where spans carry a cost of their own (the names Neon's ingestion reads, docs/ingest.md).
COST_ATTRIBUTES = ("neon.cost", "gen_ai.usage.cost", "llm.cost.total")


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


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()


def decode_payload(value: Any) -> Any:
    """A span input/output as it was before the SDK serialised it: JSON text decoded, anything else as is."""
    if isinstance(value, str) and (value[:1] in ("{", "[", '"') or value in ("true", "false", "null")):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


@dataclass
class Outcome:
    """What the agent did for one case: its output (or error), how long it took, and its trace's spans.

    `cost_usd` is the run's cost when the caller knows it; otherwise `cost` adds up the spans' own costs.
    """

    output: Any = None
    error: str | None = None
    duration_ms: float | None = None
    trace_id: str = ""
    spans: list[SpanInfo] = field(default_factory=list)
    cost_usd: float | None = None

    @classmethod
    def from_spans(cls, spans: Iterable[Any], *, output: Any = _UNSET, error: Any = _UNSET,
                   duration_ms: float | None = None, cost_usd: float | None = None) -> Outcome:
        """An Outcome from one trace's spans: OpenTelemetry SDK spans (e.g. `capture_spans().finished()`),
        `SpanInfo`s, or stored spans as the API returns them (dicts).

        Spans are put in start order (exporters hand them over in end order, children first). Unless given,
        the output is the root span's output (JSON-decoded when it is JSON), the error is the root span's
        status message when it failed, and the duration is the root span's.
        """
        keyed: list[tuple[float, int, SpanInfo]] = []
        for index, span in enumerate(spans):
            if isinstance(span, SpanInfo):
                keyed.append((0.0, index, span))
            elif isinstance(span, Mapping):
                start = span.get("start_time_ns") or span.get("start_time_unix_nano") or 0
                keyed.append((float(start) if isinstance(start, int | float) else 0.0, index,
                              SpanInfo.from_dict(span)))
            else:
                keyed.append((float(getattr(span, "start_time", 0) or 0), index, SpanInfo.from_otel(span)))
        ordered = [info for _, _, info in sorted(keyed, key=lambda k: (k[0], k[1]))]
        ids = {s.span_id for s in ordered}
        roots = [s for s in ordered if not s.parent_span_id or s.parent_span_id not in ids]
        root = roots[0] if roots else None
        if output is _UNSET:
            output = decode_payload(root.attributes.get(A.OUTPUT)) if root else None
        if error is _UNSET:
            error = (root.status_message or "error") if root and root.status == "error" else None
        if duration_ms is None and root is not None:
            duration_ms = root.duration_ms
        return cls(output=output, error=error if isinstance(error, str) else None, duration_ms=duration_ms,
                   trace_id=root.trace_id if root else "", spans=ordered, cost_usd=cost_usd)

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

    @property
    def steps(self) -> int:
        """LLM calls plus tool calls: the agent's steps."""
        return sum(1 for s in self.spans if s.span_type in ("generation", "tool"))

    @property
    def cost(self) -> float | None:
        """`cost_usd` if set, else the sum of the spans' own costs, else None (unknown, not zero)."""
        if self.cost_usd is not None:
            return self.cost_usd
        found = False
        total = 0.0
        for s in self.spans:
            for key in COST_ATTRIBUTES:
                value = s.attributes.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    total += float(value)
                    found = True
                    break
        return total if found else None


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
