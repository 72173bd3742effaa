"""Choosing a provider: `get_provider("openai:gpt-4o-mini")`, or from the environment.

| variable | meaning |
|---|---|
| `NEON_LLM_PROVIDER` | `openai` or `anthropic`, when the spec does not say |
| `NEON_LLM_MODEL` | the model, or `provider:model` |
| `OPENAI_API_KEY`, `OPENAI_BASE_URL` | for `openai` (any OpenAI-compatible server) |
| `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL` | for `anthropic` |

Arguments win over the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from neon.llm.anthropic import ANTHROPIC_BASE_URL, AnthropicProvider
from neon.llm.base import HTTPProvider, LLMConfigError
from neon.llm.openai import OPENAI_BASE_URL, OpenAIProvider

PROVIDERS: dict[str, tuple[type[HTTPProvider], str, str]] = {
    # name: (class, env var of the key, env var of the base URL)
    "openai": (OpenAIProvider, "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    "anthropic": (AnthropicProvider, "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
}
DEFAULT_BASE_URLS = {"openai": OPENAI_BASE_URL, "anthropic": ANTHROPIC_BASE_URL}


def get_provider(spec: str | None = None, *, model: str | None = None, api_key: str | None = None,
                 base_url: str | None = None, env: Mapping[str, str] | None = None,
                 **options: Any) -> HTTPProvider:
    """A provider from `"provider:model"` (or `"provider"` / `"model"`), arguments and the environment.

    A key is required for the providers' own hosts; a custom `base_url` (a local vLLM or Ollama) may go
    without. `options` go to the provider: `timeout`, `max_retries`, `retry`, `headers`, `http_client`.
    Raises `LLMConfigError` naming what is missing."""
    environ = os.environ if env is None else env
    provider_name, spec_model = _split(spec)
    env_provider, env_model = _split(environ.get("NEON_LLM_MODEL"))
    provider_name = provider_name or environ.get("NEON_LLM_PROVIDER") or env_provider
    model = model or spec_model or env_model
    if not provider_name:
        provider_name = _guess_provider(environ)
    if not provider_name:
        raise LLMConfigError("no LLM provider: pass one (get_provider('openai:MODEL') or provider=…) or set "
                             "NEON_LLM_PROVIDER=openai|anthropic (or NEON_LLM_MODEL=provider:model)")
    provider_name = provider_name.lower()
    if provider_name not in PROVIDERS:
        raise LLMConfigError(f"unknown LLM provider {provider_name!r}: known are {', '.join(PROVIDERS)}")
    cls, key_var, url_var = PROVIDERS[provider_name]
    if not model:
        raise LLMConfigError(f"no model for {provider_name}: pass get_provider('{provider_name}:MODEL') or "
                             "model=…, or set NEON_LLM_MODEL")
    base_url = base_url or environ.get(url_var) or DEFAULT_BASE_URLS[provider_name]
    api_key = api_key or environ.get(key_var)
    if not api_key and base_url.rstrip("/") == DEFAULT_BASE_URLS[provider_name]:
        raise LLMConfigError(f"no API key for {provider_name}: set {key_var} or pass api_key=… "
                             f"(or point {url_var} at a server that needs none)")
    return cls(model, base_url=base_url, api_key=api_key, **options)


def _split(spec: str | None) -> tuple[str | None, str | None]:
    """`"openai:gpt-4o"` → ("openai", "gpt-4o"); `"openai"` → ("openai", None); `"gpt-4o"` → (None, "gpt-4o")."""
    if not spec:
        return None, None
    head, sep, tail = spec.partition(":")
    if sep and head.lower() in PROVIDERS:
        return head, tail or None
    if spec.lower() in PROVIDERS:
        return spec, None
    return None, spec  # model names may contain ':' themselves (Ollama's "llama3:8b")


def _guess_provider(environ: Mapping[str, str]) -> str | None:
    """The one provider whose key or base URL is set, if only one is."""
    found = [name for name, (_, key_var, url_var) in PROVIDERS.items()
             if environ.get(key_var) or environ.get(url_var)]
    return found[0] if len(found) == 1 else None
