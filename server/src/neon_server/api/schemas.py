"""Response shapes of the read endpoints, for the OpenAPI schema (and the UI's generated client).

The handlers build plain dicts and serialise them directly (validating 10,000 spans through pydantic would cost more
than the query), so these models document the answers without being applied to them. A test checks that real
answers match them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

TIME = "UTC, nanoseconds: 2026-01-02T03:04:05.123456789Z"


class TraceSummary(BaseModel):
    trace_id: str
    start_time: str = Field(description=TIME)
    end_time: str = Field(description=TIME)
    duration_ns: int | None = Field(default=None, description="in the trace list")
    name: str
    root_span_id: str
    service: str
    status: str = Field(description="ok, error or unset: the worst status of the trace's spans")
    span_count: int
    error_count: int
    llm_call_count: int
    tool_call_count: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: float | None = Field(description="USD, the sum of the priced spans' costs; null when no span has a price")
    priced_span_count: int = Field(description="spans with a cost (priced at ingest or reported by the span)")
    unpriced_llm_calls: int = Field(description="LLM calls (spans with a model and tokens) that got no price: "
                                    "when above 0, `cost` leaves them out (a partial cost)")
    session_id: str
    user_id: str
    agent_id: str
    agent_version: str
    environment: str
    tags: list[str]
    models: list[str]
    tool_names: list[str]


class TraceRow(TraceSummary):
    scores: dict[str, float] = Field(description="average of each numeric or boolean score given to the trace")


class TracePage(BaseModel):
    traces: list[TraceRow]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class SpanEvent(BaseModel):
    name: str
    time: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class SpanRow(BaseModel):
    trace_id: str
    span_id: str
    parent_span_id: str = Field(description="empty for a root span")
    name: str
    span_type: str = Field(description="span, agent, generation, tool, retrieval, event, …")
    component_type: str = Field(description="reasoning, planning, routing, memory, prompt, or empty")
    service: str
    start_time: str = Field(description=TIME)
    end_time: str = Field(description=TIME)
    duration_ns: int
    status: str
    status_message: str
    model: str
    provider: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    total_tokens: int
    cost: float | None
    tool_name: str
    session_id: str
    user_id: str
    agent_id: str
    agent_version: str
    environment: str
    tags: list[str]


class Span(SpanRow):
    """A span of a trace, as the trace detail lists it: the list's fields plus attributes and events."""

    attributes: dict[str, str] = Field(description="span metadata attributes (payload attributes are apart)")
    events: list[SpanEvent]
    truncated: bool = Field(description="some value was cut to the size limit at ingest")


class TraceDetail(BaseModel):
    trace: TraceSummary
    spans: list[Span] = Field(description="in start order")
    next_offset: int | None = Field(description="pass as `offset` for the next page of spans")


class SpanPayload(BaseModel):
    input: str = Field(description="as sent: usually JSON text (messages, arguments) or plain text")
    output: str
    attributes: dict[str, str] = Field(description="large attributes stored with the payload")


class SpanPage(BaseModel):
    spans: list[SpanRow]
    next_cursor: str | None


class Session(BaseModel):
    session_id: str
    trace_count: int
    first_start: str = Field(description=TIME)
    last_end: str = Field(description=TIME)
    duration_ns: int
    span_count: int
    error_count: int
    total_tokens: int
    cost: float | None
    user_ids: list[str]
    agent_ids: list[str]
    environments: list[str]
    first_trace_name: str


class SessionPage(BaseModel):
    sessions: list[Session]
    next_cursor: str | None


class SeriesPoint(BaseModel):
    bucket: int = Field(description="bucket start, Unix seconds")
    traces: int
    spans: int
    errors: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: float | None
    error_rate: float = Field(description="errors / spans")


class LatencyPoint(BaseModel):
    bucket: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class LatencyGroup(BaseModel):
    key: str
    calls: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class LatencyBreakdown(BaseModel):
    span_type: list[LatencyGroup]
    model: list[LatencyGroup]
    tool: list[LatencyGroup]


class ModelUsage(BaseModel):
    bucket: int
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: float | None
    priced_calls: int


class ScoreTrend(BaseModel):
    bucket: int
    name: str
    count: int
    average: float | None


class Analytics(BaseModel):
    from_: str = Field(alias="from")
    to: str
    bucket: str = Field(description="1m, 5m, 15m, 1h, 6h or 1d")
    series: list[SeriesPoint]
    trace_latency: list[LatencyPoint]
    latency_by: LatencyBreakdown
    usage_by_model: list[ModelUsage]
    scores: list[ScoreTrend]


class ScoreOut(BaseModel):
    score_id: str
    trace_id: str
    span_id: str
    name: str
    value: float | bool | str | None = Field(description="a number, a boolean, or the category's name")
    data_type: str
    source: str
    scorer: str
    reason: str
    evidence: str
    eval_run_id: str
    dataset_item_id: str
    metadata: dict[str, str]
    created_at: str


class ScorePage(BaseModel):
    scores: list[ScoreOut]
    next_cursor: str | None


class LiveTrace(BaseModel):
    """`event: trace` of `GET /api/live/traces`: the root span of a trace just written."""

    trace_id: str
    span_id: str
    name: str
    status: str
    start_time: str = Field(description=TIME)
    duration_ns: int
    service: str
    session_id: str
    user_id: str
    agent_id: str
    agent_version: str
    environment: str


def ok(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route whose 200 answer has this shape."""
    return {200: {"model": model}}
