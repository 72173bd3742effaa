"""Realistic agent traces as pre-encoded OTLP requests, for the ingestion benchmarks.

A trace is one agent run of `spans_per_trace` spans: a root agent span, then LLM calls (GenAI semantic
conventions, ~1 KB of input and output each), tool calls and retrieval steps, each with ~15 attributes.
"""

from __future__ import annotations

import json
import os
import random
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

MODELS = [("gpt-4o", "openai"), ("gpt-4o-mini", "openai"), ("claude-sonnet-4", "anthropic")]
TOOLS = ["search", "calculator", "fetch_url", "sql_query"]
WORDS = ("the agent asked about invoices refunds shipping order status customer account balance policy please "
         "summarise explain compare retry failed timeout result document section").split(" ")


def text(rng: random.Random, size: int) -> str:
    out: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        out.append(word)
        length += len(word) + 1
    return " ".join(out)[:size]


def kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def make_request(rng: random.Random, traces: int, spans_per_trace: int = 50, payload_bytes: int = 1000,
                 start_ns: int | None = None) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend([kv("service.name", "support-agent"), kv("service.version", "1.4.2"),
                                   kv("deployment.environment.name", "production"),
                                   kv("telemetry.sdk.language", "python")])
    ss = rs.scope_spans.add()
    ss.scope.name = "neon.bench"
    base = start_ns or time.time_ns()
    for _ in range(traces):
        trace_id = os.urandom(16)
        root_id = os.urandom(8)
        session = f"sess-{rng.randrange(10_000)}"
        user = f"user-{rng.randrange(1000)}"
        t = base
        root = ss.spans.add(trace_id=trace_id, span_id=root_id, name="support-agent.run", kind=Span.SPAN_KIND_SERVER,
                            start_time_unix_nano=t)
        root.attributes.extend([kv("neon.span_type", "agent"), kv("neon.agent_id", "support-agent"),
                                kv("neon.agent_version", "v12"), kv("neon.session_id", session),
                                kv("neon.user_id", user), kv("neon.input", text(rng, payload_bytes)),
                                kv("neon.output", text(rng, payload_bytes))])
        for i in range(spans_per_trace - 1):
            span_id = os.urandom(8)
            start = t + i * 20_000_000
            end = start + rng.randrange(5_000_000, 900_000_000)
            kind = i % 5
            if kind in (0, 2, 4):
                model, provider = rng.choice(MODELS)
                s = ss.spans.add(trace_id=trace_id, span_id=span_id, parent_span_id=root_id, name=f"chat {model}",
                                 kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=start, end_time_unix_nano=end)
                s.attributes.extend([
                    kv("gen_ai.operation.name", "chat"), kv("gen_ai.provider.name", provider),
                    kv("gen_ai.request.model", model), kv("gen_ai.response.model", model),
                    kv("gen_ai.request.temperature", 0.2), kv("gen_ai.request.max_tokens", 1024),
                    kv("gen_ai.usage.input_tokens", rng.randrange(200, 4000)),
                    kv("gen_ai.usage.output_tokens", rng.randrange(20, 800)),
                    kv("gen_ai.response.finish_reasons", "stop"), kv("gen_ai.response.id", os.urandom(8).hex()),
                    kv("neon.session_id", session), kv("server.address", "api.example.com"),
                    kv("gen_ai.input.messages", json.dumps([{"role": "user", "content": text(rng, payload_bytes)}])),
                    kv("gen_ai.output.messages", json.dumps([{"role": "assistant",
                                                              "content": text(rng, payload_bytes)}])),
                    kv("neon.component_type", "reasoning"),
                ])
            elif kind == 1:
                tool = rng.choice(TOOLS)
                s = ss.spans.add(trace_id=trace_id, span_id=span_id, parent_span_id=root_id,
                                 name=f"execute_tool {tool}", start_time_unix_nano=start, end_time_unix_nano=end)
                s.attributes.extend([kv("gen_ai.operation.name", "execute_tool"), kv("gen_ai.tool.name", tool),
                                     kv("gen_ai.tool.call.id", os.urandom(6).hex()), kv("gen_ai.tool.type", "function"),
                                     kv("gen_ai.tool.call.arguments", json.dumps({"q": text(rng, 120)})),
                                     kv("gen_ai.tool.call.result", text(rng, 300))])
                if rng.random() < 0.05:
                    s.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="tool timed out"))
            else:
                s = ss.spans.add(trace_id=trace_id, span_id=span_id, parent_span_id=root_id, name="retrieve docs",
                                 start_time_unix_nano=start, end_time_unix_nano=end)
                s.attributes.extend([kv("openinference.span.kind", "RETRIEVER"), kv("input.value", text(rng, 200)),
                                     kv("retrieval.documents.0.document.content", text(rng, 300)),
                                     kv("retrieval.documents.0.document.score", 0.83)])
        root.end_time_unix_nano = t + spans_per_trace * 20_000_000 + 1_000_000_000
    return request
