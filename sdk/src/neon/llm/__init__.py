"""LLM providers: one small async interface over OpenAI-compatible servers and Anthropic, with tool calling,
streaming, retries, timeouts and a `generation` span per call. Used by the LLM-judge scorers and by agents.

    from neon.llm import ToolDefinition, get_provider, tool_message

    llm = get_provider("openai:gpt-4o-mini")          # or from NEON_LLM_PROVIDER / NEON_LLM_MODEL
    reply = await llm.complete([{"role": "user", "content": "hi"}], temperature=0)
    reply.text, reply.input_tokens, reply.output_tokens

    reply = await llm.complete(messages, tools=[ToolDefinition("weather", "…", schema)])
    messages += [reply.message, *(tool_message(call, run(call)) for call in reply.tool_calls)]

    async for event in llm.stream(messages):          # TextDelta(text)…, then the Completion
        ...

For tests, `neon.llm.fake.FakeLLMServer` answers both APIs on 127.0.0.1.
"""

from neon.llm.anthropic import AnthropicProvider
from neon.llm.base import CallOptions, HTTPProvider, LLMProvider, RetryPolicy
from neon.llm.completion import Completion, StreamEvent, TextDelta
from neon.llm.config import get_provider
from neon.llm.errors import LLMConfigError, LLMError
from neon.llm.messages import Message, Messages, normalise_messages
from neon.llm.openai import OpenAIProvider
from neon.llm.tools import ToolCall, ToolChoice, ToolDefinition, tool_message

__all__ = ["AnthropicProvider", "CallOptions", "Completion", "HTTPProvider", "LLMConfigError", "LLMError",
           "LLMProvider", "Message", "Messages", "OpenAIProvider", "RetryPolicy", "StreamEvent", "TextDelta",
           "ToolCall", "ToolChoice", "ToolDefinition", "get_provider", "normalise_messages", "tool_message"]
