"""Anthropic's Messages API (`POST {base_url}/v1/messages`, `x-api-key`, `anthropic-version`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neon.llm.base import Completion, HTTPProvider, Request

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024  # the Messages API requires max_tokens; judges' replies are short
JSON_INSTRUCTION = "Reply with a single JSON object and nothing else."


class AnthropicProvider(HTTPProvider):
    """System messages go to the top-level `system` field, as the Messages API wants."""

    name = "anthropic"

    def __init__(self, model: str, *, base_url: str = ANTHROPIC_BASE_URL, api_key: str | None = None,
                 version: str = ANTHROPIC_VERSION, **options: Any) -> None:
        options.setdefault("default_max_tokens", DEFAULT_MAX_TOKENS)
        super().__init__(model, base_url=base_url, api_key=api_key, **options)
        self.version = version

    def build_request(self, messages: list[dict[str, Any]], *, model: str, temperature: float | None,
                      max_tokens: int | None, json: bool) -> Request:
        system = [str(m["content"]) for m in messages if m["role"] == "system"]
        if json:  # the Messages API has no JSON mode: ask in the system prompt
            system.append(JSON_INSTRUCTION)
        body: dict[str, Any] = {"model": model, "max_tokens": max_tokens or DEFAULT_MAX_TOKENS,
                                "messages": [m for m in messages if m["role"] != "system"]}
        if system:
            body["system"] = "\n\n".join(system)
        if temperature is not None:
            body["temperature"] = temperature
        headers = {"anthropic-version": self.version}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return Request(f"{self.base_url}/v1/messages", headers, body)

    def parse_reply(self, data: Mapping[str, Any], model: str) -> Completion:
        text = "".join(str(block.get("text", "")) for block in data["content"]
                       if isinstance(block, Mapping) and block.get("type") == "text")
        usage = data.get("usage") or {}
        return Completion(text=text, model=str(data.get("model") or model), input_tokens=usage.get("input_tokens"),
                          output_tokens=usage.get("output_tokens"), finish_reason=data.get("stop_reason"), raw=data)
