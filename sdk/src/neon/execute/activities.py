"""Every I/O of an agent run: LLM calls, tool calls, guardrail checks, blobs and spans.

Temporal owns retries: the LLM client makes one attempt (`max_retries=0`) and its failure becomes an
`ApplicationError` — retryable with the provider's Retry-After as the next delay for 408/409/429/5xx and
connection errors, non-retryable with the provider's own message otherwise — so every attempt shows in the
run's history. Activities talk to Neon only through its HTTP API with the run token.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from neon.execute import _codec
from neon.execute import shared as s
from neon.execute.guardrails import check as check_guardrails
from neon.execute.neon_api import NeonRunAPI
from neon.execute.spec import Guardrails, ToolSpec
from neon.execute.specview import guardrail_output
from neon.execute.tools import resolve_tool
from neon.llm import HTTPProvider, LLMConfigError, LLMError, TextDelta, ToolDefinition, get_provider

PREVIEW_CHARS = 4000
DELTA_FLUSH_SECONDS = 0.05

Pricer = Callable[[str, str | None, int, int], float | None]


def genai_price(model: str, provider: str | None, input_tokens: int, output_tokens: int) -> float | None:
    """USD for one call from the genai-prices table when it is installed (the server has it), else None."""
    try:
        from genai_prices import Usage, calc_price  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    try:
        price = calc_price(Usage(input_tokens=input_tokens, output_tokens=output_tokens), model_ref=model,
                           provider_id=provider)
    except Exception:  # an unknown model: no price, never a made-up zero
        return None
    return float(price.total_price)


class AgentActivities:
    """The activities, bound to where LLM settings come from (`env`) and how calls are priced."""

    def __init__(self, *, env: Mapping[str, str] | None = None, pricer: Pricer = genai_price,
                 llm_timeout_seconds: float = 120.0) -> None:
        self.env = os.environ if env is None else env
        self.pricer = pricer
        self.llm_timeout_seconds = llm_timeout_seconds
        # One HTTP client for Neon and one for models, for every activity of this worker: a new client per
        # call cost more CPU (its TLS context) than the call. Made on first use, on the worker's event loop.
        self._neon_http: httpx.AsyncClient | None = None
        self._llm_http: httpx.AsyncClient | None = None

    def _neon(self, connection: s.Connection) -> NeonRunAPI:
        if self._neon_http is None:
            self._neon_http = httpx.AsyncClient(timeout=30.0, limits=httpx.Limits(max_connections=50))
        return NeonRunAPI(connection, http=self._neon_http)

    def _llm_client(self) -> httpx.AsyncClient:
        if self._llm_http is None:
            self._llm_http = httpx.AsyncClient(timeout=httpx.Timeout(self.llm_timeout_seconds, connect=10.0),
                                               limits=httpx.Limits(max_connections=100))
        return self._llm_http

    async def aclose(self) -> None:
        for client in (self._neon_http, self._llm_http):
            if client is not None:
                await client.aclose()
        self._neon_http = self._llm_http = None

    def all(self) -> list[Callable[..., Any]]:
        return [self.llm_call, self.tool_call, self.guardrails, self.put_blobs, self.emit_spans]

    # ------------------------------------------------------------------ LLM
    @activity.defn(name=s.LLM_CALL)
    async def llm_call(self, call: s.LLMCallInput) -> s.LLMCallResult:
        attempt = activity.info().attempt
        model = call.model
        provider = self._provider(model)
        async with self._neon(call.connection) as neon:
            new_refs = await neon.put_blobs(call.new_messages) if call.new_messages else []
            history = await neon.get_blobs(call.message_refs)
            messages = [{"role": "system", "content": call.system_prompt}, *history, *call.new_messages]
            tools = [ToolDefinition(t["name"], t.get("description") or "", t["parameters"]) for t in call.tools]
            parameters = model.get("parameters") or {}
            params = {name: parameters[name] for name in ("temperature", "max_tokens")
                      if parameters.get(name) is not None}
            started = time.time_ns()
            first_token: float | None = None
            try:
                if call.stream:
                    completion = None
                    pending: list[str] = []
                    last_flush = time.monotonic()
                    async for event in provider.stream(messages, tools=tools or None, **params):
                        if isinstance(event, TextDelta):
                            if first_token is None:
                                first_token = (time.time_ns() - started) / 1e6
                            pending.append(event.text)
                            if time.monotonic() - last_flush >= DELTA_FLUSH_SECONDS:
                                await neon.publish(call.run_id, [_delta(call, attempt, "".join(pending))])
                                pending, last_flush = [], time.monotonic()
                        else:
                            completion = event
                    if pending:
                        await neon.publish(call.run_id, [_delta(call, attempt, "".join(pending))])
                    if completion is None:
                        raise LLMError(provider.name, "the stream ended without a final reply", retryable=True)
                else:
                    completion = await provider.complete(messages, tools=tools or None, **params)
            except LLMError as error:
                raise _application_error(error) from error
            ended = time.time_ns()
            [ref] = await neon.put_blobs([completion.message])
        calls = [s.ToolCallRequest(id=c.id, name=c.name, arguments=dict(c.arguments),
                                   arguments_error=c.arguments_error) for c in completion.tool_calls]
        input_tokens, output_tokens = completion.input_tokens or 0, completion.output_tokens or 0
        return s.LLMCallResult(
            message_ref=ref, text=completion.text, tool_calls=calls, model=completion.model,
            input_tokens=input_tokens, output_tokens=output_tokens,
            cost_usd=self.pricer(completion.model, str(model["provider"]), input_tokens, output_tokens),
            finish_reason=completion.finish_reason, started_ns=started, ended_ns=ended, attempt=attempt,
            time_to_first_token_ms=first_token, input_preview=_preview(messages), new_refs=new_refs)

    # ------------------------------------------------------------------ tools
    @activity.defn(name=s.TOOL_CALL)
    async def tool_call(self, call: s.ToolCallInput) -> s.ToolCallResult:
        attempt = activity.info().attempt
        tool: ToolSpec = _codec.load(ToolSpec, call.tool)
        started = time.time_ns()
        try:
            function = resolve_tool(tool, http_client=self._llm_client())
        except Exception as exc:  # a bad import path will not get better by retrying
            raise ApplicationError(f"tool {tool.name!r} cannot be loaded: {exc}", type="ToolLoadError",
                                   non_retryable=True) from exc
        try:
            value = await function(call.call.arguments)
        except Exception as exc:
            non_retryable = type(exc).__name__ in set(tool.retry.non_retryable_errors)
            raise ApplicationError(f"tool {tool.name!r} raised {type(exc).__name__}: {exc}",
                                   type=type(exc).__name__, non_retryable=non_retryable) from exc
        ended = time.time_ns()
        content = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        message = {"role": "tool", "tool_call_id": call.call.id, "name": tool.name, "content": content}
        async with self._neon(call.connection) as neon:
            [ref] = await neon.put_blobs([message])
        return s.ToolCallResult(result_ref=ref, preview=content[:PREVIEW_CHARS], started_ns=started, ended_ns=ended,
                                attempt=attempt)

    # ------------------------------------------------------------------ guardrails
    @activity.defn(name=s.GUARDRAILS)
    async def guardrails(self, check: s.GuardrailInput) -> s.GuardrailOutput:
        started = time.time_ns()
        judge = self._judge(check.judge_model) if check.judge_model else None
        loaded: Guardrails = _codec.load(Guardrails, {check.stage: check.rules})
        rules = loaded.input if check.stage == "input" else loaded.output
        try:
            results = await check_guardrails(rules, check.text, stage="input" if check.stage == "input" else "output",
                                             judge=judge)
        except LLMError as error:
            raise _application_error(error) from error
        return guardrail_output(results, check.text, started_ns=started, ended_ns=time.time_ns())

    def _provider(self, model: dict[str, Any], ref: str | None = None) -> HTTPProvider:
        """The model's client, one attempt per call; a provider that is not configured fails the step at once
        (retrying cannot add an API key) with what is missing."""
        try:
            if ref:
                return get_provider(ref, env=self.env, max_retries=0, http_client=self._llm_client())
            return get_provider(str(model["provider"]), model=str(model["name"]), base_url=model.get("base_url"),
                                env=self.env, max_retries=0, http_client=self._llm_client())
        except LLMConfigError as exc:
            raise ApplicationError(f"the worker cannot call the model: {exc}", type="LLMConfigError",
                                   non_retryable=True) from exc

    def _judge(self, model: dict[str, Any]) -> Callable[[str, str, str | None], Any]:
        """An LLM check's verdict, from the rule's own model (`provider:model`) or the agent's."""
        async def judge(prompt: str, text: str, rule_model: str | None) -> tuple[bool, str]:
            provider = self._provider(model, rule_model)
            reply = await provider.complete([
                {"role": "system", "content": prompt + "\nAnswer PASS or FAIL on the first line, then one line why."},
                {"role": "user", "content": text}])
            first, _, rest = reply.text.strip().partition("\n")
            return first.strip().upper().startswith("PASS"), (rest.strip() or first.strip())[:500]

        return judge

    # ------------------------------------------------------------------ plumbing
    @activity.defn(name=s.PUT_BLOBS)
    async def put_blobs(self, request: s.PutBlobsInput) -> list[str]:
        async with self._neon(request.connection) as neon:
            return await neon.put_blobs(request.values)

    @activity.defn(name=s.EMIT_SPANS)
    async def emit_spans(self, request: s.EmitSpansInput) -> None:
        async with self._neon(request.connection) as neon:
            await neon.ingest_spans(request.spans)


def _delta(call: s.LLMCallInput, attempt: int, text: str) -> dict[str, Any]:
    return {"type": "delta", "step_key": call.step_key, "attempt": attempt, "text": text}


def _preview(messages: list[dict[str, Any]]) -> str:
    """The system prompt and the newest messages, as JSON, within PREVIEW_CHARS (whole messages only)."""
    kept: list[dict[str, Any]] = []
    size = len(json.dumps(messages[0], sort_keys=True)) if messages else 0
    for message in reversed(messages[1:]):
        length = len(json.dumps(message, sort_keys=True, default=str))
        if kept and size + length > PREVIEW_CHARS:
            break
        kept.insert(0, message)
        size += length
    return json.dumps(messages[:1] + kept, sort_keys=True, default=str)[: PREVIEW_CHARS * 2]


def _application_error(error: LLMError) -> ApplicationError:
    delay = timedelta(seconds=error.retry_after) if error.retry_after is not None else None
    return ApplicationError(str(error), {"status": error.status, "provider": error.provider}, type="LLMError",
                            non_retryable=not error.retryable, next_retry_delay=delay)
