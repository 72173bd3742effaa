"""Guardrails: a spec's rules checked on the user's input or on the model's answer.

    results = await check(spec.guardrails.input, text, stage="input", judge=judge)
    if (block := blocked(results)) is not None:
        answer = block.message               # the rule's message, or the reason
    text = final_text(results, text)         # after every redaction

Rules run in order, each on the text as earlier rules left it (so a redaction is seen by later rules); by default
the first rule that blocks ends the check. Every rule but `llm` is a pure function of the text. The `llm` rule
asks `judge(prompt, text, model)` — supplied by the caller (in a run, the workflow's activity), so this module
does no I/O — where `model` is the rule's `provider:model`, or None for the agent's own model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from neon.execute.errors import format_path
from neon.execute.pii import PII_LABELS, find_pii, redact_pii
from neon.execute.schema import instance_problems
from neon.execute.spec import (
    DenyListRule,
    JsonSchemaRule,
    LlmRule,
    MaxLengthRule,
    PiiRule,
    RegexRule,
    Rule,
)

Stage = Literal["input", "output"]
Judge = Callable[[str, str, str | None], Awaitable[tuple[bool, str]]]
"""`judge(prompt, text, model) -> (passed, reason)`: an LLM's verdict on `text` against the rule's `prompt`."""

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)


@dataclass(frozen=True)
class GuardrailResult:
    """One rule's verdict. `redacted_text` is the text after this rule's redactions (None: nothing redacted);
    `message` is what to tell the user when the rule blocked (the rule's own message, else the reason)."""

    rule: str
    type: str
    passed: bool
    reason: str = ""
    redacted_text: str | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "type": self.type, "passed": self.passed, "reason": self.reason,
                "redacted_text": self.redacted_text, "message": self.message}


async def check(rules: Sequence[Rule], text: str, *, stage: Stage, judge: Judge | None = None,
                stop_on_block: bool = True) -> list[GuardrailResult]:
    """Check `text` against `rules` in order; `judge` is needed when there are llm rules. ValueError for a rule
    that does not belong to `stage` (json_schema on input) or an llm rule without a judge."""
    _check_stage(rules, stage)
    if judge is None and any(isinstance(rule, LlmRule) for rule in rules):
        raise ValueError("an llm guardrail needs a judge: check(..., judge=async (prompt, text, model) -> "
                         "(passed, reason))")
    results: list[GuardrailResult] = []
    current = text
    for rule in rules:
        if isinstance(rule, LlmRule):
            assert judge is not None
            result = await _judge(rule, current, judge)
        else:
            result = check_rule(rule, current, stage=stage)
        results.append(result)
        if result.redacted_text is not None:
            current = result.redacted_text
        if stop_on_block and not result.passed:
            break
    return results


def check_sync(rules: Sequence[Rule], text: str, *, stage: Stage, stop_on_block: bool = True) -> list[GuardrailResult]:
    """`check` for rules without llm ones (ValueError if there is one): pure, no event loop needed."""
    if any(isinstance(rule, LlmRule) for rule in rules):
        raise ValueError("llm guardrails need `await check(..., judge=...)`")
    _check_stage(rules, stage)
    results: list[GuardrailResult] = []
    current = text
    for rule in rules:
        result = check_rule(rule, current, stage=stage)
        results.append(result)
        current = result.redacted_text if result.redacted_text is not None else current
        if stop_on_block and not result.passed:
            break
    return results


def blocked(results: Sequence[GuardrailResult]) -> GuardrailResult | None:
    """The first result that blocked, or None when the text may go on."""
    return next((r for r in results if not r.passed), None)


def final_text(results: Sequence[GuardrailResult], text: str) -> str:
    """The text after every redaction the results made (`text` itself when none did)."""
    for result in results:
        if result.redacted_text is not None:
            text = result.redacted_text
    return text


def check_rule(rule: Rule, text: str, *, stage: Stage) -> GuardrailResult:
    """One deterministic rule's verdict on `text` (not llm rules: they need `check` and a judge)."""
    _check_stage([rule], stage)
    if isinstance(rule, RegexRule):
        return _regex(rule, text)
    if isinstance(rule, DenyListRule):
        return _deny_list(rule, text)
    if isinstance(rule, PiiRule):
        return _pii(rule, text)
    if isinstance(rule, MaxLengthRule):
        if len(text) <= rule.chars:
            return _passed(rule)
        return _failed(rule, f"{len(text)} characters, more than the {rule.chars} allowed")
    if isinstance(rule, JsonSchemaRule):
        return _json_schema(rule, text)
    raise ValueError(f"check_rule cannot run a {rule.type or type(rule).__name__} rule")


def _check_stage(rules: Sequence[Rule], stage: Stage) -> None:
    if stage not in ("input", "output"):
        raise ValueError(f"stage must be 'input' or 'output', got {stage!r}")
    if stage == "input" and any(isinstance(rule, JsonSchemaRule) for rule in rules):
        raise ValueError("json_schema guardrails check output only")


def _passed(rule: Rule, reason: str = "", redacted: str | None = None) -> GuardrailResult:
    return GuardrailResult(rule.label, rule.type, True, reason, redacted)


def _failed(rule: Rule, reason: str) -> GuardrailResult:
    return GuardrailResult(rule.label, rule.type, False, reason, message=rule.message or reason)


def _regex(rule: RegexRule, text: str) -> GuardrailResult:
    pattern = re.compile(rule.pattern)
    if rule.action == "redact":
        redacted, count = pattern.subn("[REDACTED]", text)
        return _passed(rule, f"redacted {count} match(es)", redacted) if count else _passed(rule)
    if pattern.search(text):  # the reason names the rule, not the matched text (it may be a secret)
        return _failed(rule, f"matches the pattern {rule.pattern!r}")
    return _passed(rule)


def _deny_list(rule: DenyListRule, text: str) -> GuardrailResult:
    flags = 0 if rule.case_sensitive else re.IGNORECASE
    for word in rule.words:
        if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, flags):
            return _failed(rule, f"contains the denied word {word!r}")
    return _passed(rule)


def _pii(rule: PiiRule, text: str) -> GuardrailResult:
    matches = find_pii(text, rule.detect)
    if not matches:
        return _passed(rule)
    counts: dict[str, int] = {}
    for match in matches:
        counts[match.kind] = counts.get(match.kind, 0) + 1
    found = ", ".join(f"{n} {PII_LABELS[kind].lower().replace('_', ' ')}" for kind, n in counts.items())
    if rule.action == "redact":
        return _passed(rule, f"redacted {found}", redact_pii(text, matches))
    return _failed(rule, f"contains personal data: {found}")


def _json_schema(rule: JsonSchemaRule, text: str) -> GuardrailResult:
    fenced = _FENCE.match(text)
    try:
        value = json.loads(fenced.group(1) if fenced else text)
    except ValueError as exc:
        return _failed(rule, f"the answer is not JSON: {exc}")
    problems = instance_problems(rule.schema, value)
    if not problems:
        return _passed(rule)
    listed = "; ".join(f"{format_path(p.path) or '(root)'}: {p.message}" for p in problems[:5])
    return _failed(rule, f"the answer does not match the schema: {listed}")


async def _judge(rule: LlmRule, text: str, judge: Judge) -> GuardrailResult:
    verdict = await judge(rule.prompt, text, rule.model)
    if not (isinstance(verdict, tuple) and len(verdict) == 2 and isinstance(verdict[0], bool)):
        raise TypeError(f"a guardrail judge returns (passed: bool, reason: str), got {verdict!r}")
    passed, reason = verdict
    return _passed(rule, str(reason)) if passed else _failed(rule, str(reason) or "the judge said no")
