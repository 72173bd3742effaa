"""What the workflow reads from a spec: the normalised spec dict (`AgentSpec.to_dict()`) as typed answers.

The workflow keeps the dict (it travels in the run's input, so a run executes exactly the version it started
with) and asks this view for timeouts, retry policies, tool schemas and budgets. Pure and deterministic.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

from neon.execute import shared as s
from neon.execute.guardrails import GuardrailResult, check_sync, final_text
from neon.execute.spec import AgentSpec, LlmRule
from neon.execute.tools import ToolArgumentsError, validate_arguments

LLM_TIMEOUT = timedelta(seconds=180)  # one attempt of an LLM call, streaming included

class SpecView:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = AgentSpec.from_dict(spec)
        self.data = self.spec.to_dict()
        self._tools = {tool.name: tool for tool in self.spec.tools}
        self._tool_data = {tool["name"]: tool for tool in self.data["tools"]}

    # ------------------------------------------------------------------ model
    @property
    def model(self) -> dict[str, Any]:
        model = self.spec.model
        parameters = {k: v for k, v in self.data["model"]["parameters"].items() if v not in (None, [], ())}
        return {"provider": model.provider, "name": model.name, "base_url": model.base_url, "parameters": parameters}

    @property
    def model_name(self) -> str:
        return self.spec.model.name

    def system_prompt(self, variables: dict[str, str]) -> str:
        return self.spec.render_system_prompt(variables)

    @property
    def llm_timeout(self) -> timedelta:
        return LLM_TIMEOUT

    @property
    def llm_retry(self) -> RetryPolicy:
        return _retry(self.spec.llm_retry)

    # ------------------------------------------------------------------ tools
    @property
    def tool_names(self) -> list[str]:
        return list(self._tools)

    def tool_definitions(self) -> list[dict[str, Any]]:
        return [{"name": t.name, "description": t.description, "parameters": dict(t.parameters)}
                for t in self.spec.tools]

    def tool(self, name: str) -> dict[str, Any] | None:
        return self._tool_data.get(name)

    def argument_problem(self, call: s.ToolCallRequest) -> str | None:
        """Why the model's arguments cannot be passed to the tool, or None when they can."""
        if call.arguments_error:
            return f"the arguments are not valid JSON: {call.arguments_error}"
        try:
            validate_arguments(self._tools[call.name], call.arguments)
        except ToolArgumentsError as exc:
            return f"invalid arguments for {call.name}: {exc}"
        return None

    def tool_timeout(self, tool: dict[str, Any]) -> timedelta:
        return timedelta(seconds=self._tools[tool["name"]].timeout_seconds)

    def tool_retry(self, tool: dict[str, Any]) -> RetryPolicy:
        return _retry(self._tools[tool["name"]].retry)

    # ------------------------------------------------------------------ guardrails, budgets, approvals
    def guardrails(self, stage: str) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = self.data["guardrails"][stage]
        return rules

    def check_locally(self, stage: str, text: str) -> s.GuardrailOutput | None:
        """The stage's guardrails evaluated here — they are pure (patterns, PII, lengths, schemas) — or None
        when one is an LLM check, which must run as an activity."""
        rules = self.spec.guardrails.input if stage == "input" else self.spec.guardrails.output
        if any(isinstance(rule, LlmRule) for rule in rules):
            return None
        return guardrail_output(check_sync(rules, text, stage="input" if stage == "input" else "output"), text)

    @property
    def budgets(self) -> s.Budgets:
        b = self.spec.budgets
        return s.Budgets(max_steps=b.max_steps, max_tokens=b.max_tokens, max_cost_usd=b.max_cost_usd,
                         max_wall_seconds=b.max_wall_seconds)

    @property
    def approval_timeout_seconds(self) -> float:
        return float(self.spec.approval.timeout_seconds)

    @property
    def approval_on_timeout(self) -> str:
        return self.spec.approval.on_timeout


def _retry(policy: Any) -> RetryPolicy:
    return RetryPolicy(initial_interval=timedelta(seconds=policy.initial_interval_seconds),
                       backoff_coefficient=policy.backoff_coefficient,
                       maximum_interval=timedelta(seconds=policy.max_interval_seconds),
                       maximum_attempts=policy.max_attempts,
                       non_retryable_error_types=list(policy.non_retryable_errors))


def guardrail_output(results: list[GuardrailResult], text: str, *, started_ns: int = 0,
                     ended_ns: int = 0) -> s.GuardrailOutput:
    verdicts = [s.GuardrailVerdict(rule=r.rule, passed=r.passed, reason=r.reason) for r in results]
    return s.GuardrailOutput(passed=all(v.passed for v in verdicts), verdicts=verdicts,
                             text=final_text(results, text), started_ns=started_ns, ended_ns=ended_ns)
