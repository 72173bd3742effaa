"""OpenAI-compatible chat completions (`POST {base_url}/chat/completions`): OpenAI itself, and the many servers
that speak its protocol — vLLM, Ollama, LiteLLM proxies, llama.cpp's server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neon.llm.base import Completion, HTTPProvider, Request

OPENAI_BASE_URL = "https://api.openai.com/v1"


class OpenAIProvider(HTTPProvider):
    """`base_url` includes the API version path (`.../v1`), as the OpenAI clients expect."""

    name = "openai"

    def __init__(self, model: str, *, base_url: str = OPENAI_BASE_URL, api_key: str | None = None,
                 **options: Any) -> None:
        super().__init__(model, base_url=base_url, api_key=api_key, **options)

    def build_request(self, messages: list[dict[str, Any]], *, model: str, temperature: float | None,
                      max_tokens: int | None, json: bool) -> Request:
        body: dict[str, Any] = {"model": model, "messages": messages}
        if temperature is not None:
            body["temperature"] = temperature
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if json:
            body["response_format"] = {"type": "json_object"}
        headers = {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return Request(f"{self.base_url}/chat/completions", headers, body)

    def parse_reply(self, data: Mapping[str, Any], model: str) -> Completion:
        choice = data["choices"][0]
        content = choice["message"].get("content")
        if isinstance(content, list):  # some compatible servers send content parts
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
        usage = data.get("usage") or {}
        return Completion(text=content or "", model=str(data.get("model") or model),
                          input_tokens=usage.get("prompt_tokens"), output_tokens=usage.get("completion_tokens"),
                          finish_reason=choice.get("finish_reason"), raw=data)
