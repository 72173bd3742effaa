"""Neon SDK: tracing and evaluation for AI agents, built on OpenTelemetry.

    import neon

    neon.configure()                      # NEON_BASE_URL / NEON_API_KEY, or the key `neon up` saved

    @neon.tool()
    def search(query: str) -> list[str]: ...

    with neon.trace("support-agent", session_id="chat-42", user_id="ada"):
        with neon.generation("plan", model="gpt-4o", provider="openai", messages=msgs) as g:
            reply = call_llm(msgs)
            g.set_output(reply.text).set_usage(input_tokens=reply.input_tokens, output_tokens=reply.output_tokens)
        search("refund policy")
    neon.flush()
"""

from neon import breakpoints
from neon.breakpoints import add_breakpoint, define_breakpoint, evaluate_breakpoints, remove_breakpoint
from neon.client import NeonClient, NeonError
from neon.credentials import Credentials, load_credentials, neon_home
from neon.scores import score
from neon.tracing import (
    SpanFactory,
    SpanHandle,
    bind_context,
    configure,
    current_span,
    dropped_spans,
    flush,
    generation,
    memory,
    planning,
    prompt,
    reasoning,
    retrieval,
    routing,
    span,
    tool,
    trace,
)

__version__ = "0.1.0"

__all__ = [
    "Credentials",
    "NeonClient",
    "NeonError",
    "SpanFactory",
    "SpanHandle",
    "__version__",
    "add_breakpoint",
    "bind_context",
    "breakpoints",
    "configure",
    "current_span",
    "define_breakpoint",
    "dropped_spans",
    "evaluate_breakpoints",
    "flush",
    "generation",
    "load_credentials",
    "memory",
    "neon_home",
    "planning",
    "prompt",
    "reasoning",
    "remove_breakpoint",
    "retrieval",
    "routing",
    "score",
    "span",
    "tool",
    "trace",
]
