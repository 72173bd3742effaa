"""LLM providers: one small async interface over OpenAI-compatible servers and Anthropic, with retries,
timeouts and a `generation` span per call. Used by the LLM-judge scorers; usable on its own.

    from neon.llm import get_provider

    llm = get_provider("openai:gpt-4o-mini")          # or from NEON_LLM_PROVIDER / NEON_LLM_MODEL
    reply = await llm.complete([{"role": "user", "content": "hi"}], temperature=0)
    reply.text, reply.input_tokens, reply.output_tokens

For tests, `neon.llm.fake.FakeLLMServer` answers both APIs on 127.0.0.1.
"""

from neon.llm.anthropic import AnthropicProvider
from neon.llm.base import (
    Completion,
    HTTPProvider,
    LLMConfigError,
    LLMError,
    LLMProvider,
    Message,
    Messages,
    RetryPolicy,
)
from neon.llm.config import get_provider
from neon.llm.openai import OpenAIProvider

__all__ = ["AnthropicProvider", "Completion", "HTTPProvider", "LLMConfigError", "LLMError", "LLMProvider", "Message",
           "Messages", "OpenAIProvider", "RetryPolicy", "get_provider"]
