"""The public span helpers. Each returns a SpanFactory: `with neon.tool("search") as s:` or `@neon.tool()`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from neon.tracing import attributes as A
from neon.tracing.spans import SpanFactory, _common

COMPONENT_KINDS = ("reasoning", "planning", "routing", "memory", "prompt")


def trace(name: str | None = None, *, input: Any = None, span_type: str = "agent",
          session_id: str | None = None, user_id: str | None = None, agent_id: str | None = None,
          agent_version: str | None = None, environment: str | None = None, tags: Sequence[str] | None = None,
          metadata: Mapping[str, Any] | None = None, attributes: Mapping[str, Any] | None = None) -> SpanFactory:
    """The root of a run: an agent invocation, a request, a job. Its session, user, agent, version,
    environment and tags describe the whole trace."""
    return SpanFactory(name, _common(span_type, None, session_id=session_id, user_id=user_id, agent_id=agent_id,
                                     agent_version=agent_version, environment=environment, tags=tags,
                                     metadata=metadata, attributes=attributes), input=input)


def span(name: str | None = None, *, input: Any = None, span_type: str = "span",
         component_type: str | None = None, metadata: Mapping[str, Any] | None = None,
         attributes: Mapping[str, Any] | None = None, capture_args: bool = True,
         capture_result: bool = True) -> SpanFactory:
    """Any step worth seeing in the trace."""
    return SpanFactory(name, _common(span_type, component_type, metadata=metadata, attributes=attributes),
                       input=input, capture_args=capture_args, capture_result=capture_result)


def generation(name: str | None = None, *, model: str | None = None, provider: str | None = None,
               input: Any = None, messages: Any = None, temperature: float | None = None,
               max_tokens: int | None = None, metadata: Mapping[str, Any] | None = None,
               attributes: Mapping[str, Any] | None = None) -> SpanFactory:
    """An LLM call. Set usage and the response model on the handle: `s.set_usage(input_tokens=…)`."""
    extra = {A.OPERATION: "chat", A.MODEL: model, A.PROVIDER: provider, A.TEMPERATURE: temperature,
             A.MAX_TOKENS: max_tokens, **(attributes or {})}
    return SpanFactory(name, _common("generation", None, metadata=metadata,
                                     attributes={k: v for k, v in extra.items() if v is not None}),
                       input=messages if messages is not None else input)


def tool(name: str | None = None, *, tool_name: str | None = None, input: Any = None,
         category: str | None = None, confidence: float | None = None, reason: str | None = None,
         alternatives: Sequence[str] | None = None, metadata: Mapping[str, Any] | None = None,
         attributes: Mapping[str, Any] | None = None) -> SpanFactory:
    """A tool call, with optional skill-selection context (why this tool: category, confidence, reason,
    alternatives considered)."""
    extra: dict[str, Any] = {A.TOOL_NAME: tool_name, A.SELECTION_CATEGORY: category,
                             A.SELECTION_CONFIDENCE: confidence, A.SELECTION_REASON: reason,
                             A.SELECTION_ALTERNATIVES: list(alternatives) if alternatives else None,
                             **(attributes or {})}
    return SpanFactory(name, _common("tool", None, metadata=metadata,
                                     attributes={k: v for k, v in extra.items() if v is not None}), input=input,
                       name_attribute=A.TOOL_NAME)


def retrieval(name: str | None = None, *, query: Any = None, metadata: Mapping[str, Any] | None = None,
              attributes: Mapping[str, Any] | None = None) -> SpanFactory:
    """A lookup in a vector store, search index or database; its output is what was found."""
    return SpanFactory(name, _common("retrieval", None, metadata=metadata, attributes=attributes), input=query)


def _component(kind: str) -> Any:
    def helper(name: str | None = None, *, input: Any = None, metadata: Mapping[str, Any] | None = None,
               attributes: Mapping[str, Any] | None = None) -> SpanFactory:
        return SpanFactory(name, _common("span", kind, metadata=metadata, attributes=attributes), input=input)

    helper.__name__ = helper.__qualname__ = kind
    helper.__doc__ = f"A {kind} step of the agent (a span with component_type '{kind}')."
    return helper


reasoning = _component("reasoning")
planning = _component("planning")
routing = _component("routing")
memory = _component("memory")
prompt = _component("prompt")
